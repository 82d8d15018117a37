package settle

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
)

// CheckTx compares a transaction a peer or an operator presents for req
// with the one this node builds (btc.Check): any difference is refused
// with btc's specific error (btc.ErrOutputMismatch, btc.ErrWrongChange,
// btc.ErrFeeTooHigh, btc.ErrUnexpectedInput, btc.ErrTxMismatch, ...).
func (s *Settler) CheckTx(ctx context.Context, req custody.Request, tx *wire.MsgTx) error {
	p, err := s.Plan(ctx, req)
	if err != nil {
		return err
	}
	if err := btc.Check(tx, p.Spend); err != nil {
		return fmt.Errorf("checking the transaction of %.12s: %w", p.RequestID, err)
	}
	return nil
}
