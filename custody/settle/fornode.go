package settle

import "github.com/triad-custody/triad/custody"

// ForNode makes the settler of a node from its bitcoin section (network,
// rpc_host, rpc_user, rpc_pass_env, broadcast) and its own policy, over
// its key store (keys) and custody store (records), both open already
// (daemon.Start opens them first). The Bitcoin node is not contacted
// here. getenv is os.Getenv when nil.
//
//	keys, _ := keystore.New(cfg.KeysDir(), cfg.Party, sealer)
//	st, _ := store.Open(path, cfg.Policy.Party)
//	settler, err := settle.ForNode(cfg.Bitcoin, cfg.Policy, keys, st, nil)
//	rt, err := node.Start(ctx, &cfg.Config, node.StartOptions{Keys: keys, ...})
//	svc, err := service.Open(&cfg.Config, service.Options{Policy: cfg.Policy, Store: st,
//		Network: rt.Node, Keys: rt.Keys,
//		Digester: settler.Digester(service.DefaultDigester), Finalizer: settler.Finalizer()})
func ForNode(b BitcoinConfig, pol custody.Policy, keys KeyLoader, records Recorder, getenv func(string) string) (*Settler, error) {
	network := b.Network
	if network == "" {
		network = "mainnet"
	}
	chain, err := Dial(ChainConfig{Network: network, Host: b.RPCHost, User: b.RPCUser, PassEnv: b.RPCPassEnv}, getenv)
	if err != nil {
		return nil, err
	}
	c := Config{Network: network, Policy: pol, Keys: keys, Records: records, Broadcast: b.Broadcast}
	if chain != nil {
		c.Chain = chain
	}
	return New(c)
}
