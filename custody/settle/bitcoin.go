package settle

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/service"
)

// btcSettler is the chain boundary on Bitcoin (ChainSettler) over the
// Settler: coins chosen and checked on this node's own Bitcoin node, one
// BIP143 sighash per input, finalized through btcd's script engine.
type btcSettler struct{ s *Settler }

// Pays implements ChainSettler (Settler.Pays).
func (b btcSettler) Pays(req custody.Request) bool { return b.s.Pays(req) }

// Plan implements ChainSettler: the coins that pay req (ChooseInputs).
func (b btcSettler) Plan(ctx context.Context, req custody.Request, held func([]custody.Input) ([]custody.Input, error)) (custody.Request, error) {
	if req.Replaces != "" {
		return req, errReplaceBTC(req)
	}
	return b.s.ChooseInputs(ctx, req, held)
}

// errReplaceBTC: a replacement request replaces a stuck EVM transaction
// only; a Bitcoin transfer is never signed as one.
func errReplaceBTC(req custody.Request) error {
	return fmt.Errorf("%.12s: %w: a replacement (replaces %.12s) is for a stuck EVM transaction only", req.ID(), ErrNotSettled, req.Replaces)
}

// Check implements ChainSettler: every coin looked up (CheckInputs).
func (b btcSettler) Check(ctx context.Context, req custody.Request) error {
	if req.Replaces != "" {
		return errReplaceBTC(req)
	}
	return b.s.CheckInputs(ctx, req)
}

// Hold implements ChainSettler: nothing beyond the coins, which the
// service's store reserves.
func (b btcSettler) Hold(custody.Request) error { return nil }

// Batches implements ChainSettler: a Bitcoin liquidation is paid in a
// liquidation batch transaction.
func (b btcSettler) Batches(custody.Request) bool { return true }

// Digests implements ChainSettler: one BIP143 sighash per input.
func (b btcSettler) Digests(req custody.Request) ([][32]byte, error) {
	return b.s.Digests(context.Background(), req)
}

// Finalize implements ChainSettler: the witnesses attached and every
// input run through btcd's script engine (Settler.Finalize).
func (b btcSettler) Finalize(ctx context.Context, req custody.Request, sigs []service.Signature) (Record, error) {
	rec, _, err := b.s.finalizeRecord(ctx, req, sigs)
	return rec, err
}

// Broadcast implements ChainSettler: recorded and, where this node
// broadcasts, sent unless its Bitcoin node knows it (idempotent).
func (b btcSettler) Broadcast(ctx context.Context, _ custody.Request, rec Record) error {
	raw, err := hex.DecodeString(rec.Raw)
	if err != nil {
		return fmt.Errorf("settling %.12s: %w", rec.RequestID, err)
	}
	tx := new(wire.MsgTx)
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("settling %.12s: %w", rec.RequestID, err)
	}
	_, err = b.s.publish(ctx, rec, tx)
	return err
}

// Track implements ChainSettler: this node's own Bitcoin node asked
// (Refresh) and the answer recorded, so every node, signer or not,
// reports the txid and confirmations of the transaction the request
// means. A transaction its Bitcoin node does not know (yet) is recorded
// with confirmations 0 and the reason. Nothing is tracked without a
// Bitcoin node, nor for a request without coins (a canary drill).
func (b btcSettler) Track(ctx context.Context, req custody.Request) (service.Settlement, bool, error) {
	s := b.s
	if s.cfg.Chain == nil {
		return service.Settlement{}, false, nil
	}
	if _, err := actionOf(req.Kind); err != nil || len(req.Inputs) == 0 || req.Asset != Asset {
		return service.Settlement{}, false, nil // no transaction (a canary drill)
	}
	rec, err := s.Refresh(ctx, req)
	if errors.Is(err, btc.ErrNotFound) && rec.TxID != "" {
		rec.Confirmations, rec.Error = 0, "not known to this node's bitcoin node"
		err = s.putRecord(rec)
	}
	if err != nil {
		return service.Settlement{}, !errors.Is(err, ErrNotSettled), err
	}
	if stored, ok, _ := s.Record(rec.RequestID); ok {
		rec = stored // with its update time
	}
	return service.Settlement{TxID: rec.TxID, Broadcast: rec.Broadcast, Confirmations: rec.Confirmations,
		Updated: rec.Updated, Error: rec.Error, Vout: rec.Vout, Batch: rec.Batch}, true, nil
}

// Digester plugs settlement into the custody service's Digester seam:
// Bitcoin transfers are signed as their BIP143 sighashes (Digests), every
// other request (canary drills) as fallback signs it, normally
// service.DefaultDigester.
//
//	svc, _ := service.Open(cfg, service.Options{
//		Digester:  settler.Digester(service.DefaultDigester),
//		Finalizer: settler.Finalizer(),
//	})
func (s *Settler) Digester(fallback service.Digester) service.Digester {
	return func(req custody.Request) ([][32]byte, error) {
		if _, err := actionOf(req.Kind); err != nil {
			if fallback == nil {
				return nil, err
			}
			return fallback(req)
		}
		return btcSettler{s}.Digests(req)
	}
}

// Finalizer plugs settlement into the service's Finalizer seam: on the
// coordinator, once the signatures are complete, finalise the transaction
// (script engine), record it and broadcast it where configured. Requests
// that are not Bitcoin transfers need nothing more.
func (s *Settler) Finalizer() service.Finalizer {
	return func(ctx context.Context, req custody.Request, res service.Result) error {
		if _, err := actionOf(req.Kind); err != nil {
			return nil
		}
		return finalizeAndBroadcast(ctx, btcSettler{s}, req, res.Signatures)
	}
}

// Tracker plugs settlement into the service's Tracker seam: the service
// calls it from its tick for every done request until the transaction has
// enough confirmations (btcSettler.Track). nil when this node has no
// Bitcoin node.
//
//	svc, _ := service.Open(cfg, service.Options{..., Tracker: settler.Tracker()})
func (s *Settler) Tracker() service.Tracker {
	if s.cfg.Chain == nil {
		return nil
	}
	return btcSettler{s}.Track
}
