package settle

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
)

// Finalize rebuilds req's transaction, attaches sigs (one per digest, in
// the plan's order), normalises them to low S, DER-encodes them into P2WPKH
// witnesses and runs every input through btcd's script engine. It returns
// no transaction unless the script engine accepts it.
func (s *Settler) Finalize(ctx context.Context, req custody.Request, sigs []btc.Signature) (*Plan, *wire.MsgTx, error) {
	p, err := s.Plan(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	if len(sigs) != len(p.Digests) {
		return nil, nil, fmt.Errorf("finalizing %.12s: %w: %d signatures for %d inputs", p.RequestID, ErrSignatures, len(sigs), len(p.Digests))
	}
	tx, err := btc.Finalize(p.Tx, p.Spend.Inputs, p.Key, sigs)
	if err != nil {
		return nil, nil, fmt.Errorf("finalizing %.12s: %w: %w", p.RequestID, ErrSignatures, err)
	}
	return p, tx, nil
}

// Settle finalises req's transaction with sigs, records it and, when this
// node broadcasts, sends it to its Bitcoin node. It is idempotent: a
// transaction the node already knows is not sent again, and calling it
// after a crash records the same txid.
func (s *Settler) Settle(ctx context.Context, req custody.Request, sigs []btc.Signature) (Record, error) {
	rec, tx, err := s.finalizeRecord(ctx, req, sigs)
	if err != nil {
		return Record{}, err
	}
	return s.publish(ctx, rec, tx)
}

// finalizeRecord is Finalize with the record of its transaction (txid,
// raw, fee), not yet stored.
func (s *Settler) finalizeRecord(ctx context.Context, req custody.Request, sigs []btc.Signature) (Record, *wire.MsgTx, error) {
	p, tx, err := s.Finalize(ctx, req, sigs)
	if err != nil {
		return Record{}, nil, err
	}
	var raw bytes.Buffer
	if err := tx.Serialize(&raw); err != nil {
		return Record{}, nil, fmt.Errorf("settling %.12s: %w", p.RequestID, err)
	}
	txid := tx.TxHash()
	return Record{RequestID: p.RequestID, TxID: txid.String(), Raw: hex.EncodeToString(raw.Bytes()), Fee: p.Fee}, tx, nil
}

// publish records rec (tx, finalized) and, when this node broadcasts,
// sends tx to its Bitcoin node unless it knows it already.
func (s *Settler) publish(ctx context.Context, rec Record, tx *wire.MsgTx) (Record, error) {
	if prev, ok, _ := s.Record(rec.RequestID); ok && prev.TxID == rec.TxID {
		rec.Broadcast, rec.Confirmations = prev.Broadcast, prev.Confirmations
	}
	log := s.log.With("request", short(rec.RequestID), "txid", rec.TxID)
	if !s.cfg.Broadcast {
		log.Info("transaction finalised; broadcast is off")
		return rec, s.putRecord(rec)
	}
	n, err := s.send(ctx, tx)
	if err != nil {
		rec.Error = err.Error()
		_ = s.putRecord(rec)
		log.Warn("broadcast failed", "err", err)
		return rec, fmt.Errorf("settling %.12s: %w", rec.RequestID, err)
	}
	rec.Broadcast, rec.Confirmations = true, n
	log.Info("transaction broadcast", "fee", rec.Fee, "confirmations", rec.Confirmations)
	return rec, s.putRecord(rec)
}

// send broadcasts tx unless this node's Bitcoin node knows it already
// (sent before a restart, or by a peer), and returns its confirmations.
func (s *Settler) send(ctx context.Context, tx *wire.MsgTx) (int64, error) {
	txid := tx.TxHash()
	n, err := s.cfg.Chain.Confirmations(ctx, &txid)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, btc.ErrNotFound):
		if _, err := s.cfg.Chain.Broadcast(ctx, tx); err != nil {
			return 0, err
		}
		return 0, nil
	}
	return 0, err
}

func chainHash(txid string) (*chainhash.Hash, error) {
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		return nil, fmt.Errorf("%w: txid %q: %v", btc.ErrBadInput, txid, err)
	}
	return h, nil
}

// Refresh asks this node's Bitcoin node how many blocks confirm req's
// transaction and records it. The txid follows from the request alone, so
// every node can track a settlement it did not broadcast.
func (s *Settler) Refresh(ctx context.Context, req custody.Request) (Record, error) {
	if s.cfg.Chain == nil {
		return Record{}, fmt.Errorf("tracking %.12s: %w", req.ID(), ErrNoChain)
	}
	if rec, ok, err := s.Record(req.ID()); err == nil && ok && rec.Batch != "" {
		return s.refreshBatch(ctx, rec) // paid in a liquidation batch (batch.go)
	}
	p, err := s.Plan(ctx, req)
	if err != nil {
		return Record{}, err
	}
	rec, ok, err := s.Record(p.RequestID)
	if err != nil {
		return Record{}, err
	}
	txid := p.TxID()
	if !ok || rec.TxID != txid.String() {
		rec = Record{RequestID: p.RequestID, TxID: txid.String(), Fee: p.Fee}
	}
	n, err := s.cfg.Chain.Confirmations(ctx, &txid)
	if err != nil {
		return rec, fmt.Errorf("tracking %.12s: %w", p.RequestID, err)
	}
	rec.Confirmations, rec.Error = n, ""
	return rec, s.putRecord(rec)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
