package settle

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/service"
)

// Chains is the chain boundary the custody service sees: one dispatch per
// request by its asset's chain, so the service never knows which chain
// pays. A transfer of an asset of chain "evm" (policy.assets) goes to the
// evm.Chain of its chain ID: the coordinator plans it (PlanCustody: nonce,
// fee caps, gas, not coins), every signer checks it on its own EVM node
// and holds its nonce (AuthorizeCustody), the digest is the EVM signer
// hash, the coordinator finalizes (FinalizeCustody) and broadcasts, and
// every node counts it paid only at the chain's configured depth on its
// own EVM node. Everything else goes to the Bitcoin Settler.
//
//	chains := &settle.Chains{BTC: settler, EVM: evmChains, Policy: cfg.Policy, Records: recs, Broadcast: true}
//	svc, _ := service.Open(cfg, service.Options{Coins: chains,
//		Digester: chains.Digester(service.DefaultDigester), Finalizer: chains.Finalizer(),
//		Tracker: chains.Tracker(), Batcher: settler})
//	chains.Results = svc   // the signatures a partner tracks by
type Chains struct {
	BTC *Settler
	// EVM are this node's EVM chains by chain ID (node config evm.chains).
	EVM    map[uint64]*evm.Chain
	Policy custody.Policy
	// Records keeps the EVM settlement records (the custody store).
	Records Recorder
	// Broadcast: the coordinator sends the signed transaction to its EVM node.
	Broadcast bool
	// Results gives a request's signatures (the service: Get), so a node
	// that did not finalize can still follow the transaction it signed or
	// saw signed.
	Results ResultSource
}

// ResultSource gives a request's view; *service.Service implements it.
type ResultSource interface {
	Get(id string) (service.View, error)
}

var (
	_ service.Coins      = (*Chains)(nil)
	_ service.EVMPayer   = (*Chains)(nil)
	_ service.PlanHolder = (*Chains)(nil)
	// ErrNoEVMChain: the request's asset is on an EVM chain this node has no node for.
	ErrNoEVMChain = errors.New("settle: no EVM node for the asset's chain")
)

// evmOf returns the EVM chain that pays req: ok is false for a request
// not paid on an EVM chain, err set when it is but this node has no node
// for that chain (it then signs nothing for it).
func (c *Chains) evmOf(req custody.Request) (ch *evm.Chain, ok bool, err error) {
	if _, err := actionOf(req.Kind); err != nil {
		return nil, false, nil
	}
	for _, a := range c.Policy.Assets {
		if a.Symbol != req.Asset || a.Chain != custody.ChainEVM {
			continue
		}
		if ch = c.EVM[a.ChainID]; ch == nil {
			return nil, true, fmt.Errorf("%w: %s on chain %d: this node signs no spend of it", ErrNoEVMChain, clipS(req.Asset), a.ChainID)
		}
		return ch, true, nil
	}
	return nil, false, nil
}

// PaysOnEVM implements service.EVMPayer: req is a transfer of an EVM asset.
func (c *Chains) PaysOnEVM(req custody.Request) bool {
	_, ok, _ := c.evmOf(req)
	return ok
}

// Pays implements service.Coins.
func (c *Chains) Pays(req custody.Request) bool {
	if c.PaysOnEVM(req) {
		return true
	}
	return c.BTC != nil && c.BTC.Pays(req)
}

// ChooseInputs implements service.Coins: an EVM transfer is planned on
// this node's own EVM node (PlanCustody), a Bitcoin one chooses coins.
func (c *Chains) ChooseInputs(ctx context.Context, req custody.Request, reserved func([]custody.Input) ([]custody.Input, error)) (custody.Request, error) {
	ch, ok, err := c.evmOf(req)
	switch {
	case err != nil:
		return req, err
	case ok:
		return ch.PlanCustody(ctx, req)
	case c.BTC == nil:
		return req, fmt.Errorf("choosing coins: %w: this node signs no spend", ErrNoChain)
	}
	return c.BTC.ChooseInputs(ctx, req, reserved)
}

// CheckInputs implements service.Coins: an EVM plan is checked on this
// node's own EVM node (CheckCustody), holding nothing: its nonce is held
// only once this node decided to sign it (HoldPlan). Bitcoin coins are
// looked up (CheckInputs).
func (c *Chains) CheckInputs(ctx context.Context, req custody.Request) error {
	ch, ok, err := c.evmOf(req)
	switch {
	case err != nil:
		return err
	case ok:
		return ch.CheckCustody(ctx, req)
	case c.BTC == nil:
		return fmt.Errorf("checking the coins of %.12s: %w: this node signs no spend", req.ID(), ErrNoChain)
	}
	return c.BTC.CheckInputs(ctx, req)
}

// HoldPlan implements service.PlanHolder: the nonce of req's EVM plan,
// held for req in this node's store once it decided to sign the plan
// (HoldCustody). A request not paid on an EVM chain holds nothing here.
func (c *Chains) HoldPlan(req custody.Request) error {
	ch, ok, err := c.evmOf(req)
	if err != nil || !ok {
		return err
	}
	return ch.HoldCustody(req)
}

// Digester: an EVM transfer signs its EIP-1559 signer hash, rebuilt here
// from the request, its plan and this node's policy (PlanOf); the rest as
// the Bitcoin settler's Digester with fallback.
func (c *Chains) Digester(fallback service.Digester) service.Digester {
	next := fallback
	if c.BTC != nil {
		next = c.BTC.Digester(fallback)
	}
	return func(req custody.Request) ([][32]byte, error) {
		ch, ok, err := c.evmOf(req)
		switch {
		case err != nil:
			return nil, err
		case !ok:
			return next(req)
		}
		_, p, err := ch.PlanOf(req)
		if err != nil {
			return nil, err
		}
		return [][32]byte{p.Digest()}, nil
	}
}

// Finalizer: on the coordinator, an EVM transfer is finalized from this
// node's own rebuild (low-s, recovery id, recovers to the account),
// recorded and, with Broadcast, sent to its EVM node.
func (c *Chains) Finalizer() service.Finalizer {
	var next service.Finalizer
	if c.BTC != nil {
		next = c.BTC.Finalizer()
	}
	return func(ctx context.Context, req custody.Request, res service.Result) error {
		ch, ok, err := c.evmOf(req)
		switch {
		case err != nil:
			return err
		case !ok && next != nil:
			return next(ctx, req, res)
		case !ok:
			return nil
		}
		rec, tx, err := c.finalizeEVM(ch, req, res.Signatures)
		if err != nil {
			return err
		}
		if c.Broadcast {
			if _, err := ch.Broadcast(ctx, tx); err != nil {
				rec.Error = err.Error()
				_ = c.putEVMRecord(rec)
				return err
			}
			rec.Broadcast = true
		}
		return c.putEVMRecord(rec)
	}
}

func (c *Chains) finalizeEVM(ch *evm.Chain, req custody.Request, sigs []service.Signature) (Record, *types.Transaction, error) {
	if len(sigs) != 1 {
		return Record{}, nil, fmt.Errorf("finalizing %.12s: %w: %d signatures for one EVM transaction", req.ID(), service.ErrBadResult, len(sigs))
	}
	hash, raw, err := ch.FinalizeCustody(req, sigs[0].R, sigs[0].S)
	if err != nil {
		return Record{}, nil, err
	}
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(raw); err != nil {
		return Record{}, nil, fmt.Errorf("finalizing %.12s: %w", req.ID(), err)
	}
	return Record{RequestID: req.ID(), TxID: hash, Raw: hex.EncodeToString(raw)}, tx, nil
}

func (c *Chains) putEVMRecord(r Record) error {
	if c.Records == nil {
		return nil
	}
	if c.BTC != nil {
		r.Updated = c.BTC.cfg.Now().UTC()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return c.Records.PutSettlement(r.RequestID, b)
}

// Tracker: an EVM transfer is looked up on this node's own EVM node by the
// hash of the transaction this node rebuilds from the request, its plan
// and the signature (never a hash a peer reports). Below the chain's
// configured depth the record says so (Error), so the service counts it
// paid only at that depth; a reverted transaction is an error, never paid.
// Without EVM chains it is the Bitcoin settler's Tracker (nil without a
// Bitcoin node: nothing is tracked).
func (c *Chains) Tracker() service.Tracker {
	var next service.Tracker
	if c.BTC != nil {
		next = c.BTC.Tracker()
	}
	if len(c.EVM) == 0 {
		return next
	}
	return func(ctx context.Context, req custody.Request) (service.Settlement, bool, error) {
		ch, ok, err := c.evmOf(req)
		switch {
		case err != nil:
			return service.Settlement{}, false, err
		case !ok && next != nil:
			return next(ctx, req)
		case !ok || req.EVM == nil:
			return service.Settlement{}, false, nil
		}
		rec, err := c.trackEVM(ctx, ch, req)
		if err != nil {
			return service.Settlement{}, true, err
		}
		if err := c.putEVMRecord(rec); err != nil {
			return service.Settlement{}, true, err
		}
		return service.Settlement{TxID: rec.TxID, Broadcast: rec.Broadcast, Confirmations: rec.Confirmations, Error: rec.Error}, true, nil
	}
}

func (c *Chains) trackEVM(ctx context.Context, ch *evm.Chain, req custody.Request) (Record, error) {
	if c.Results == nil {
		return Record{}, fmt.Errorf("tracking %.12s: %w: the service's results", req.ID(), ErrUnbound)
	}
	v, err := c.Results.Get(req.ID())
	if err != nil {
		return Record{}, err
	}
	if v.Result == nil || !v.Result.Complete {
		return Record{}, fmt.Errorf("tracking %.12s: %w: no complete signature here", req.ID(), ErrNotSettled)
	}
	rec, _, err := c.finalizeEVM(ch, req, v.Result.Signatures)
	if err != nil {
		return Record{}, err
	}
	if b, ok, err := c.recordBytes(req.ID()); err == nil && ok {
		var old Record
		if json.Unmarshal(b, &old) == nil && old.TxID == rec.TxID {
			rec.Broadcast = old.Broadcast
		}
	}
	depth, _, err := ch.Confirmations(ctx, common.HexToHash(rec.TxID))
	if err != nil {
		rec.Error = err.Error()
		return rec, nil
	}
	rec.Confirmations = int64(depth)
	if want := ch.Policy.Confirmations; depth < want {
		rec.Error = fmt.Sprintf("%d of %d confirmations on this node's EVM node", depth, want)
	}
	return rec, nil
}

func (c *Chains) recordBytes(id string) ([]byte, bool, error) {
	if c.Records == nil {
		return nil, false, nil
	}
	return c.Records.Settlement(id)
}

func clipS(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
