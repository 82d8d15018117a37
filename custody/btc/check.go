package btc

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/wire"
)

// Check verifies that tx is exactly the transaction spend describes. A signer
// calls it on a transaction proposed by a peer (or on its own rebuild) before
// it computes any sighash. It checks, in this order, with these errors:
//
//   - the spend itself is valid and buildable (as Build);
//   - tx spends exactly the spend's inputs, each once (ErrUnexpectedInput,
//     ErrDuplicateInput, ErrMissingInput);
//   - every requested output is present with its exact script and amount
//     (ErrOutputMismatch);
//   - any other output is a single change output to ChangeAddress
//     (ErrWrongChange), and there is no other extra output (ErrOutputMismatch);
//   - the fee is not above the canonical fee nor above MaxFee (ErrFeeTooHigh);
//   - and finally tx is the canonical build, byte for byte apart from
//     witnesses (ErrTxMismatch: order, version, lock time, sequences, a smaller
//     fee).
//
// Check compares transaction ids, so it accepts a finalised tx too; the
// witnesses are checked by VerifyTx, not here.
func Check(tx *wire.MsgTx, spend Spend) error {
	want, wantFee, r, err := build(&spend)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if err := wellFormed(tx); err != nil {
		return fmt.Errorf("check %s: %w: %w", spend.Action, ErrTxMismatch, err)
	}

	expected := make(map[wire.OutPoint]int64, len(spend.Inputs))
	var totalIn int64
	for _, in := range spend.Inputs {
		expected[in.OutPoint] = in.Value
		totalIn += in.Value
	}
	seen := make(map[wire.OutPoint]bool, len(tx.TxIn))
	for i, in := range tx.TxIn {
		op := in.PreviousOutPoint
		if _, ok := expected[op]; !ok {
			return fmt.Errorf("check %s: input %d: %w: %v", spend.Action, i, ErrUnexpectedInput, op)
		}
		if seen[op] {
			return fmt.Errorf("check %s: input %d: %w: %v", spend.Action, i, ErrDuplicateInput, op)
		}
		seen[op] = true
	}
	for _, in := range spend.Inputs {
		if !seen[in.OutPoint] {
			return fmt.Errorf("check %s: %w: %v", spend.Action, ErrMissingInput, in.OutPoint)
		}
	}

	// Match the requested outputs (for a sweep: the canonical amount) as a
	// multiset; what is left over must be the change.
	requested := r.outputs
	if spend.Sweep {
		requested = want.TxOut
	}
	used := make([]bool, len(tx.TxOut))
	for _, r := range requested {
		found := false
		for j, o := range tx.TxOut {
			if !used[j] && o.Value == r.Value && bytes.Equal(o.PkScript, r.PkScript) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return fmt.Errorf("check %s: %w: no output of %d sats to script %x", spend.Action, ErrOutputMismatch, r.Value, r.PkScript)
		}
	}
	var extra []*wire.TxOut
	var totalOut int64
	for j, o := range tx.TxOut {
		totalOut += o.Value
		if !used[j] {
			extra = append(extra, o)
		}
	}
	switch {
	case len(extra) > 1:
		return fmt.Errorf("check %s: %w: %d unrequested outputs", spend.Action, ErrOutputMismatch, len(extra))
	case len(extra) == 1 && (spend.Sweep || !bytes.Equal(extra[0].PkScript, r.changeScript)):
		return fmt.Errorf("check %s: %w: extra output to script %x", spend.Action, ErrWrongChange, extra[0].PkScript)
	}

	fee := totalIn - totalOut
	if fee > spend.MaxFee {
		return fmt.Errorf("check %s: %w: fee %d sats > ceiling %d", spend.Action, ErrFeeTooHigh, fee, spend.MaxFee)
	}
	if fee > wantFee {
		return fmt.Errorf("check %s: %w: fee %d sats > canonical %d", spend.Action, ErrFeeTooHigh, fee, wantFee)
	}
	if tx.TxHash() != want.TxHash() {
		return fmt.Errorf("check %s: %w: txid %v, canonical %v", spend.Action, ErrTxMismatch, tx.TxHash(), want.TxHash())
	}
	return nil
}
