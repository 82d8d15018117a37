package settle

import (
	"context"
	"errors"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/service"
)

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
		return s.Digests(context.Background(), req)
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
		_, err := s.Settle(ctx, req, res.Signatures)
		return err
	}
}

// Tracker plugs settlement into the service's Tracker seam: the service
// calls it from its tick for every done request until the transaction has
// enough confirmations; it asks this node's own Bitcoin node (Refresh)
// and records the answer, so every node, signer or not, reports the txid
// and confirmations of the transaction the request means. A transaction
// its Bitcoin node does not know (yet) is recorded with confirmations 0
// and the reason. nil when this node has no Bitcoin node.
//
//	svc, _ := service.Open(cfg, service.Options{..., Tracker: settler.Tracker()})
func (s *Settler) Tracker() service.Tracker {
	if s.cfg.Chain == nil {
		return nil
	}
	return func(ctx context.Context, req custody.Request) (service.Settlement, bool, error) {
		if _, err := actionOf(req.Kind); err != nil || len(req.Inputs) == 0 || req.Asset != Asset {
			// No plan: nothing was paid (a coinless canary drill).
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
}

var _ service.Coins = (*Settler)(nil)
