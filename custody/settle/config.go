package settle

import "github.com/triad-custody/triad/custody/evm"

// BitcoinConfig is a node's bitcoin section: its OWN btcd/bitcoind RPC
// endpoint (optional), the network and whether the coordinator broadcasts
// what it finalizes (ForNode).
type BitcoinConfig struct {
	Network    string `mapstructure:"network"`
	RPCHost    string `mapstructure:"rpc_host"`
	RPCUser    string `mapstructure:"rpc_user"`
	RPCPassEnv string `mapstructure:"rpc_pass_env"`
	Broadcast  bool   `mapstructure:"broadcast"`
}

// EVMConfig lists the EVM chains this node signs for, each with its OWN
// EVM node (rpc_url), its fee and gas caps and the confirmation depth at
// which a settlement counts as paid (optional: a node without a chain
// signs no transaction on it).
type EVMConfig struct {
	Chains []evm.Config `mapstructure:"chains"`
}

// Chain returns the configured chain with the given chain ID.
func (e EVMConfig) Chain(chainID uint64) (evm.Config, bool) {
	for _, c := range e.Chains {
		if c.ChainID == chainID {
			return c, true
		}
	}
	return evm.Config{}, false
}
