package settle

import (
	"context"
	"fmt"
	"sync"

	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss"
)

// ForNode makes the settler of a node from its config: the bitcoin
// section (network, rpc_host, rpc_user, rpc_pass_env, broadcast) and the
// node's own policy. keys and records may be late-bound (KeysLater); the
// Bitcoin node is not contacted here. getenv is os.Getenv when nil.
//
//	keys, recs := &settle.KeysLater{}, &settle.RecordsLater{}
//	settler, err := settle.ForNode(cfg, keys, recs, nil)
//	svc, err := service.Open(cfg, service.Options{
//		Digester: settler.Digester(service.DefaultDigester), Finalizer: settler.Finalizer()})
//	recs.Bind(svc.Store())
//	rt, err := node.Start(ctx, cfg, node.StartOptions{Authorizer: svc, ...})
//	keys.Bind(rt.Keys)
func ForNode(cfg *node.Config, keys KeyLoader, records Recorder, getenv func(string) string) (*Settler, error) {
	b := cfg.Bitcoin
	network := b.Network
	if network == "" {
		network = "mainnet"
	}
	chain, err := Dial(ChainConfig{Network: network, Host: b.RPCHost, User: b.RPCUser, PassEnv: b.RPCPassEnv}, getenv)
	if err != nil {
		return nil, err
	}
	c := Config{Network: network, Policy: cfg.Policy, Keys: keys, Records: records, Broadcast: b.Broadcast}
	if chain != nil {
		c.Chain = chain
	}
	return New(c)
}

// KeysLater is a KeyLoader bound after the node has started (its key
// store is made by node.Start, after the settler and the service).
type KeysLater struct {
	mu   sync.Mutex
	keys KeyLoader
}

// Bind sets the key store.
func (k *KeysLater) Bind(keys KeyLoader) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = keys
}

// Load implements KeyLoader.
func (k *KeysLater) Load(ctx context.Context, keyID string) (*tss.KeyShare, error) {
	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()
	if keys == nil {
		return nil, fmt.Errorf("%w: %w: the node's key store", ErrKey, ErrUnbound)
	}
	return keys.Load(ctx, keyID)
}

// RecordsLater is a Recorder bound once the custody store is open (the
// service opens it, after the settler is made).
type RecordsLater struct {
	mu  sync.Mutex
	rec Recorder
}

// Bind sets the recorder (normally the service's *store.Store).
func (r *RecordsLater) Bind(rec Recorder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec = rec
}

func (r *RecordsLater) get() (Recorder, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec == nil {
		return nil, fmt.Errorf("%w: the custody store", ErrUnbound)
	}
	return r.rec, nil
}

// PutSettlement implements Recorder.
func (r *RecordsLater) PutSettlement(id string, b []byte) error {
	rec, err := r.get()
	if err != nil {
		return err
	}
	return rec.PutSettlement(id, b)
}

// Settlement implements Recorder.
func (r *RecordsLater) Settlement(id string) ([]byte, bool, error) {
	rec, err := r.get()
	if err != nil {
		return nil, false, err
	}
	return rec.Settlement(id)
}
