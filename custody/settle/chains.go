package settle

import (
	"context"
	"errors"
	"fmt"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/custody/store"
)

// ChainSettler is one chain's side of the chain boundary: everything the
// custody service needs to pay a typed request on that chain, asked of
// this node's own chain node. It is the service's chain boundary
// (service.Chain: Pays, Plan, Check, Hold) with what follows the plan:
// the digests, the finalized transaction as its Record (txid, raw), its
// broadcast and its confirmations. Hold reads only the node's own stores
// (custody store, key store for the account's address), never the
// service or a chain node: the service calls it under its lock. Bitcoin
// (btcSettler over *Settler) and EVM (evmSettler over evm.Chain)
// implement it; Chains dispatches to them by the chain of the request's
// asset.
type ChainSettler interface {
	service.Chain
	// Digests are what the threshold key signs, rebuilt here from req
	// and its plan: one per Bitcoin input, one EVM signer hash.
	Digests(req custody.Request) ([][32]byte, error)
	// Finalize attaches the signatures to the transaction this node
	// rebuilds and checks it; the Record carries its txid and raw bytes.
	Finalize(ctx context.Context, req custody.Request, sigs []service.Signature) (Record, error)
	// Broadcast records the finalized transaction and, where this node
	// broadcasts, sends it to its own chain node.
	Broadcast(ctx context.Context, req custody.Request, signed Record) error
	// Track reports the transaction's confirmations on this node's own
	// chain node (ok false: req has no transaction to track).
	Track(ctx context.Context, req custody.Request) (s service.Settlement, ok bool, err error)
}

// Chains is the chain boundary the custody service sees: a map from the
// chain of a request's asset (policy.assets: bitcoin or evm) to this
// node's implementation of it (ChainSettler), so the service never knows
// which chain pays. A transfer of an asset of chain "evm" goes to the
// evm.Chain of its chain ID: the coordinator plans it (nonce, fee caps,
// gas, not coins), every signer checks it on its own EVM node and, once
// it decided to sign, holds its nonce, the digest is the EVM signer hash,
// the coordinator finalizes and broadcasts, and every node counts it paid
// only at the chain's configured depth on its own EVM node. Everything
// else goes to the Bitcoin Settler.
//
//	chains := &settle.Chains{BTC: settler, EVM: evmChains, Policy: cfg.Policy, Records: st, Results: st, Broadcast: true}
//	svc, _ := service.Open(cfg, service.Options{Store: st, Coins: chains, // service.Chain
//		Digester: chains.Digester(service.DefaultDigester), Finalizer: chains.Finalizer(),
//		Tracker: chains.Tracker(), Batcher: settler})
type Chains struct {
	BTC *Settler
	// EVM are this node's EVM chains by chain ID (node config evm.chains).
	EVM    map[uint64]*evm.Chain
	Policy custody.Policy
	// Records keeps the EVM settlement records (the custody store).
	Records Recorder
	// Broadcast: the coordinator sends the signed transaction to its EVM node.
	Broadcast bool
	// Results are the requests and signatures the service stored (the
	// custody store), so a node that did not finalize can still follow
	// the transaction it signed or saw signed.
	Results ResultSource
}

// ResultSource gives a stored request and its stored result (as the
// service writes them, service.DecodeResult); *store.Store implements it.
type ResultSource interface {
	Get(id string) (store.Entry, error)
	Result(id string) ([]byte, bool, error)
}

// signed is request id as this node stored it and the signatures this
// node holds for it (nil: none, or none it can read).
func (c *Chains) signed(id string) (custody.Request, *service.Result, error) {
	if c.Results == nil {
		return custody.Request{}, nil, fmt.Errorf("reading %.12s: %w", id, ErrNoResults)
	}
	e, err := c.Results.Get(id)
	if err != nil {
		return custody.Request{}, nil, err
	}
	b, ok, err := c.Results.Result(id)
	if err != nil || !ok {
		return e.Request, nil, nil
	}
	r, err := service.DecodeResult(b)
	if err != nil {
		return e.Request, nil, nil
	}
	return e.Request, &r, nil
}

var (
	_ service.Chain = (*Chains)(nil)
	_ ChainSettler  = btcSettler{}
	_ ChainSettler  = evmSettler{}
	_ ResultSource  = (*store.Store)(nil)
	// ErrNoEVMChain: the request's asset is on an EVM chain this node has no node for.
	ErrNoEVMChain = errors.New("settle: no EVM node for the asset's chain")
)

// settlers is the dispatch: each chain this node settles on, to its
// implementation. Without a Bitcoin settler, Bitcoin has none.
func (c *Chains) settlers() map[string]ChainSettler {
	m := map[string]ChainSettler{custody.ChainEVM: evmSettler{c}}
	if c.BTC != nil {
		m[custody.ChainBitcoin] = btcSettler{c.BTC}
	}
	return m
}

// chainOf is the chain that pays req: evm for a transfer of an asset of
// chain evm, bitcoin for the rest (the Bitcoin settler passes over the
// requests no transaction pays, such as canary drills).
func (c *Chains) chainOf(req custody.Request) string {
	if _, err := actionOf(req.Kind); err == nil {
		for _, a := range c.Policy.Assets {
			if a.Symbol == req.Asset && a.Chain == custody.ChainEVM {
				return custody.ChainEVM
			}
		}
	}
	return custody.ChainBitcoin
}

// settlerOf is the implementation that pays req; ok is false when this
// node settles nothing on req's chain.
func (c *Chains) settlerOf(req custody.Request) (ChainSettler, bool) {
	s, ok := c.settlers()[c.chainOf(req)]
	return s, ok
}

// Batches implements service.Chain: req is paid in a batch of its chain.
func (c *Chains) Batches(req custody.Request) bool {
	s, ok := c.settlerOf(req)
	return ok && s.Batches(req)
}

// Pays implements service.Chain.
func (c *Chains) Pays(req custody.Request) bool {
	s, ok := c.settlerOf(req)
	return ok && s.Pays(req)
}

// Plan implements service.Chain: the coordinator's plan from its own
// chain node (ChainSettler.Plan).
func (c *Chains) Plan(ctx context.Context, req custody.Request, held func([]custody.Input) ([]custody.Input, error)) (custody.Request, error) {
	s, ok := c.settlerOf(req)
	if !ok {
		return req, fmt.Errorf("choosing coins: %w: this node signs no spend", ErrNoChain)
	}
	return s.Plan(ctx, req, held)
}

// Check implements service.Chain: the plan checked on this node's own
// chain node (ChainSettler.Check), holding nothing: what it uses is held
// only once this node decided to sign it (Hold).
func (c *Chains) Check(ctx context.Context, req custody.Request) error {
	s, ok := c.settlerOf(req)
	if !ok {
		return fmt.Errorf("checking the coins of %.12s: %w: this node signs no spend", req.ID(), ErrNoChain)
	}
	return s.Check(ctx, req)
}

// Hold implements service.Chain (ChainSettler.Hold): an EVM plan's
// nonce, held for req once this node decided to sign the plan.
func (c *Chains) Hold(req custody.Request) error {
	s, ok := c.settlerOf(req)
	if !ok {
		return nil
	}
	return s.Hold(req)
}

// Digester: a transfer signs the digests its chain rebuilds here from the
// request, its plan and this node's policy; every other request (canary
// drills), and a Bitcoin transfer at a node without a Bitcoin settler, as
// fallback signs it.
func (c *Chains) Digester(fallback service.Digester) service.Digester {
	return func(req custody.Request) ([][32]byte, error) {
		s, ok := c.settlerOf(req)
		_, notTransfer := actionOf(req.Kind)
		switch {
		case ok && notTransfer == nil:
			return s.Digests(req)
		case fallback == nil && notTransfer != nil:
			return nil, notTransfer
		case fallback == nil:
			return nil, fmt.Errorf("digests of %.12s: %w: this node signs no spend", req.ID(), ErrNoChain)
		}
		return fallback(req)
	}
}

// Finalizer: on the coordinator, a transfer is finalized from this node's
// own rebuild, recorded and, where configured, broadcast on its chain.
func (c *Chains) Finalizer() service.Finalizer {
	return func(ctx context.Context, req custody.Request, res service.Result) error {
		s, ok := c.settlerOf(req)
		if _, err := actionOf(req.Kind); err != nil || !ok {
			return nil
		}
		return finalizeAndBroadcast(ctx, s, req, res.Signatures)
	}
}

func finalizeAndBroadcast(ctx context.Context, s ChainSettler, req custody.Request, sigs []service.Signature) error {
	rec, err := s.Finalize(ctx, req, sigs)
	if err != nil {
		return err
	}
	return s.Broadcast(ctx, req, rec)
}

// Tracker: a transfer's transaction is looked up on this node's own chain
// node by the txid this node rebuilds (never one a peer reports) and
// counted paid only at the chain's configured depth. Without EVM chains it
// is the Bitcoin settler's Tracker (nil without a Bitcoin node: nothing is
// tracked).
func (c *Chains) Tracker() service.Tracker {
	if len(c.EVM) == 0 {
		if c.BTC == nil {
			return nil
		}
		return c.BTC.Tracker()
	}
	return func(ctx context.Context, req custody.Request) (service.Settlement, bool, error) {
		s, ok := c.settlerOf(req)
		if !ok {
			return service.Settlement{}, false, nil
		}
		return s.Track(ctx, req)
	}
}
