package evm

import (
	"fmt"
	"math/big"
	"net/url"

	"github.com/ethereum/go-ethereum/common"

	"github.com/triad-custody/triad/custody"
)

// Config is a node's EVM settings: its own EVM node and the caps it signs
// under. The node's party policy (custody.Policy) supplies the assets,
// accounts and recipients.
type Config struct {
	// RPCURL is the node's OWN EVM node (JSON-RPC over HTTP).
	RPCURL string `mapstructure:"rpc_url" yaml:"rpc_url"`
	// ChainID is the chain this node signs for (EIP-155).
	ChainID uint64 `mapstructure:"chain_id" yaml:"chain_id"`
	// MaxFeePerGasWei caps a transaction's max fee per gas.
	MaxFeePerGasWei uint64 `mapstructure:"max_fee_per_gas_wei" yaml:"max_fee_per_gas_wei"`
	// MaxPriorityFeePerGasWei caps its max priority fee per gas (tip).
	MaxPriorityFeePerGasWei uint64 `mapstructure:"max_priority_fee_per_gas_wei" yaml:"max_priority_fee_per_gas_wei"`
	// MaxGas caps a transaction's gas limit; the limit itself comes from
	// the node's own estimate (GasMarginPct above it).
	MaxGas uint64 `mapstructure:"max_gas" yaml:"max_gas"`
	// Confirmations is the depth at which a transaction counts as paid.
	Confirmations int `mapstructure:"confirmations" yaml:"confirmations"`
}

// GasMarginPct is added to the node's own gas estimate in a plan's gas
// limit: state may change a little between planning and inclusion.
const GasMarginPct = 20

// Validate checks every key and names the first bad one.
func (c Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: evm.%s: %s", ErrConfig, key, fmt.Sprintf(format, args...))
	}
	if u, err := url.Parse(c.RPCURL); c.RPCURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return bad("rpc_url", "want an http(s) URL of the node's own EVM node")
	}
	switch {
	case c.ChainID == 0:
		return bad("chain_id", "must be set")
	case c.MaxFeePerGasWei == 0:
		return bad("max_fee_per_gas_wei", "must be positive")
	case c.MaxPriorityFeePerGasWei == 0 || c.MaxPriorityFeePerGasWei > c.MaxFeePerGasWei:
		return bad("max_priority_fee_per_gas_wei", "must be 1..max_fee_per_gas_wei (%d)", c.MaxFeePerGasWei)
	case c.MaxGas < 21000 || c.MaxGas > 30_000_000:
		return bad("max_gas", "must be 21000..30000000")
	case c.Confirmations < 1 || c.Confirmations > 1000:
		return bad("confirmations", "must be 1..1000")
	}
	return nil
}

// Asset is an allowlisted asset on this node's chain.
type Asset struct {
	Symbol   string
	Decimals int
	// Contract is the ERC-20; nil for the native coin.
	Contract *common.Address
	// MaxAmount caps one request in base units (0: none may move it).
	MaxAmount *big.Int
}

// Policy is what Chain checks a request against: this node's config and
// the EVM side of its party policy.
type Policy struct {
	Config
	Assets   map[string]Asset  // by symbol
	Accounts map[string]Target // by account ID
}

// Target is an account's key path and the recipients the policy allows.
type Target struct {
	KeyID string
	Path  string
	// Owner receives releases and unfreezes; Liquidation receives
	// liquidations (the account's own, else the policy-wide address).
	Owner, Liquidation *common.Address
}

// NewPolicy takes from p the assets of chain evm with cfg's chain ID, and
// the accounts whose owner or liquidation address is an EVM address
// (an account is one key path, so a client's EVM account is its own entry).
func NewPolicy(cfg Config, p custody.Policy) (Policy, error) {
	if err := cfg.Validate(); err != nil {
		return Policy{}, err
	}
	pol := Policy{Config: cfg, Assets: map[string]Asset{}, Accounts: map[string]Target{}}
	for i, a := range p.Assets {
		if a.Chain != custody.ChainEVM || a.ChainID != cfg.ChainID {
			continue
		}
		asset := Asset{Symbol: a.Symbol, Decimals: a.Decimals, MaxAmount: a.Cap()}
		if a.Contract != "" {
			c, err := ParseAddress(a.Contract)
			if err != nil {
				return Policy{}, fmt.Errorf("%w: policy.assets[%d].contract: %v", ErrConfig, i, err)
			}
			asset.Contract = &c
		} else if a.Decimals != 18 {
			return Policy{}, fmt.Errorf("%w: policy.assets[%d]: the native coin has 18 decimals", ErrConfig, i)
		}
		pol.Assets[a.Symbol] = asset
	}
	for i, a := range p.Accounts {
		t := Target{KeyID: a.KeyID, Path: a.ChildPath}
		liq := a.LiquidationAddress
		if liq == "" {
			liq = p.LiquidationAddress
		}
		var err error
		if t.Owner, err = evmAddress(a.OwnerAddress); err != nil {
			return Policy{}, fmt.Errorf("%w: policy.accounts[%d].owner_address: %v", ErrConfig, i, err)
		}
		if t.Liquidation, err = evmAddress(liq); err != nil {
			return Policy{}, fmt.Errorf("%w: policy.accounts[%d] liquidation address: %v", ErrConfig, i, err)
		}
		if t.Owner != nil || t.Liquidation != nil {
			pol.Accounts[a.ID] = t // else a Bitcoin account
		}
	}
	return pol, nil
}

// evmAddress parses s as an EVM address: nil for an address of another
// chain (no 0x prefix), an error for a malformed 0x address.
func evmAddress(s string) (*common.Address, error) {
	if len(s) < 2 || s[:2] != "0x" {
		return nil, nil
	}
	a, err := ParseAddress(s)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// recipientFor is the address the policy allows kind to pay from t.
func (t Target) recipientFor(kind custody.Kind) *common.Address {
	switch kind {
	case custody.KindRelease, custody.KindUnfreeze:
		return t.Owner
	case custody.KindLiquidation:
		return t.Liquidation
	}
	return nil
}
