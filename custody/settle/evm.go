package settle

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/service"
)

// evmSettler is the chain boundary on the EVM chains of c (ChainSettler):
// a request goes to the evm.Chain of its asset's chain ID, and a node
// without a node for that chain signs nothing for it (ErrNoEVMChain).
type evmSettler struct{ c *Chains }

// chain is the evm.Chain that pays req.
func (e evmSettler) chain(req custody.Request) (*evm.Chain, error) {
	for _, a := range e.c.Policy.Assets {
		if a.Symbol != req.Asset || a.Chain != custody.ChainEVM {
			continue
		}
		if ch := e.c.EVM[a.ChainID]; ch != nil {
			return ch, nil
		}
		return nil, fmt.Errorf("%w: %s on chain %d: this node signs no spend of it", ErrNoEVMChain, clipS(req.Asset), a.ChainID)
	}
	return nil, fmt.Errorf("%w: %s is not an EVM asset here", ErrNoEVMChain, clipS(req.Asset))
}

// Pays implements ChainSettler: every EVM transfer is paid by a planned
// transaction.
func (e evmSettler) Pays(custody.Request) bool { return true }

// Plan implements ChainSettler: the coordinator's nonce, fee caps and gas
// from its own EVM node (PlanCustody); coins play no part.
func (e evmSettler) Plan(ctx context.Context, req custody.Request, _ func([]custody.Input) ([]custody.Input, error)) (custody.Request, error) {
	ch, err := e.chain(req)
	if err != nil {
		return req, err
	}
	if req.Replaces != "" {
		stuck, err := e.stuck(ch, req)
		if err != nil {
			return req, err
		}
		return ch.PlanReplacementCustody(ctx, req, stuck)
	}
	return ch.PlanCustody(ctx, req)
}

// stuck is the request req replaces, with the EVM plan of the complete
// signature this node holds for it: only a transaction this node saw
// signed can be replaced.
func (e evmSettler) stuck(ch *evm.Chain, req custody.Request) (evm.Stuck, error) {
	old, res, err := e.c.signed(req.Replaces)
	if err != nil {
		return evm.Stuck{}, fmt.Errorf("replacing %.12s: %w", req.Replaces, err)
	}
	if res == nil || !res.Complete || res.EVM == nil {
		return evm.Stuck{}, fmt.Errorf("replacing %.12s: %w: no signed EVM transaction of it here", req.Replaces, ErrNotSettled)
	}
	return ch.StuckOf(old.Base().WithEVMPlan(res.EVM))
}

// Check implements ChainSettler: CheckCustody, holding nothing.
func (e evmSettler) Check(ctx context.Context, req custody.Request) error {
	ch, err := e.chain(req)
	if err != nil {
		return err
	}
	if req.Replaces != "" {
		stuck, err := e.stuck(ch, req)
		if err != nil {
			return err
		}
		return ch.CheckReplacementCustody(ctx, req, stuck)
	}
	return ch.CheckCustody(ctx, req)
}

// Batches implements ChainSettler: an EVM transfer is signed on its own.
func (e evmSettler) Batches(custody.Request) bool { return false }

// Hold implements ChainSettler: the plan's nonce, held for req
// (HoldCustody).
func (e evmSettler) Hold(req custody.Request) error {
	ch, err := e.chain(req)
	if err != nil {
		return err
	}
	if req.Replaces != "" {
		return ch.HoldReplacementCustody(req) // checked against the stuck plan before (Check)
	}
	return ch.HoldCustody(req)
}

// Digests implements ChainSettler: the EIP-1559 signer hash, rebuilt here
// from the request, its plan and this node's policy (PlanOf).
func (e evmSettler) Digests(req custody.Request) ([][32]byte, error) {
	ch, err := e.chain(req)
	if err != nil {
		return nil, err
	}
	_, p, err := ch.PlanOf(req)
	if err != nil {
		return nil, err
	}
	return [][32]byte{p.Digest()}, nil
}

// Finalize implements ChainSettler: low-s, recovery id, recovers to the
// account (FinalizeCustody), from this node's own rebuild.
func (e evmSettler) Finalize(_ context.Context, req custody.Request, sigs []service.Signature) (Record, error) {
	ch, err := e.chain(req)
	if err != nil {
		return Record{}, err
	}
	return finalizeEVM(ch, req, sigs)
}

// Broadcast implements ChainSettler: recorded and, with Chains.Broadcast,
// sent to this node's EVM node.
func (e evmSettler) Broadcast(ctx context.Context, req custody.Request, rec Record) error {
	ch, err := e.chain(req)
	if err != nil {
		return err
	}
	if e.c.Broadcast {
		raw, err := hex.DecodeString(rec.Raw)
		if err != nil {
			return fmt.Errorf("broadcasting %.12s: %w", req.ID(), err)
		}
		tx := new(types.Transaction)
		if err := tx.UnmarshalBinary(raw); err != nil {
			return fmt.Errorf("broadcasting %.12s: %w", req.ID(), err)
		}
		if _, err := ch.Broadcast(ctx, tx); err != nil {
			rec.Error = err.Error()
			_ = e.c.putEVMRecord(rec)
			return err
		}
		rec.Broadcast = true
	}
	return e.c.putEVMRecord(rec)
}

// Track implements ChainSettler: the transaction is looked up on this
// node's own EVM node by the hash of the transaction this node rebuilds
// from the request, its plan and the signature (never a hash a peer
// reports). Below the chain's configured depth the record says so
// (Error), so the service counts it paid only at that depth; a reverted
// transaction is an error, never paid.
func (e evmSettler) Track(ctx context.Context, req custody.Request) (service.Settlement, bool, error) {
	ch, err := e.chain(req)
	switch {
	case err != nil:
		return service.Settlement{}, false, err
	case req.EVM == nil:
		return service.Settlement{}, false, nil
	}
	rec, err := e.c.trackEVM(ctx, ch, req)
	if err != nil {
		return service.Settlement{}, true, err
	}
	if err := e.c.putEVMRecord(rec); err != nil {
		return service.Settlement{}, true, err
	}
	return service.Settlement{TxID: rec.TxID, Broadcast: rec.Broadcast, Confirmations: rec.Confirmations, Error: rec.Error}, true, nil
}

func finalizeEVM(ch *evm.Chain, req custody.Request, sigs []service.Signature) (Record, error) {
	if len(sigs) != 1 {
		return Record{}, fmt.Errorf("finalizing %.12s: %w: %d signatures for one EVM transaction", req.ID(), service.ErrBadResult, len(sigs))
	}
	hash, raw, err := ch.FinalizeCustody(req, sigs[0].R, sigs[0].S)
	if err != nil {
		return Record{}, err
	}
	return Record{RequestID: req.ID(), TxID: hash, Raw: hex.EncodeToString(raw)}, nil
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

func (c *Chains) trackEVM(ctx context.Context, ch *evm.Chain, req custody.Request) (Record, error) {
	_, res, err := c.signed(req.ID())
	if err != nil {
		return Record{}, err
	}
	if res == nil || !res.Complete {
		return Record{}, fmt.Errorf("tracking %.12s: %w: no complete signature here", req.ID(), ErrNotSettled)
	}
	rec, err := finalizeEVM(ch, req, res.Signatures)
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
	if depth == 0 {
		if replaced, by, err := ch.Replaced(ctx, req); err == nil && replaced {
			rec.Error = fmt.Sprintf("replaced: its nonce is used by another transaction (request %.12s)", by)
			return rec, nil
		}
	}
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
