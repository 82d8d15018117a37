package btc

import (
	"fmt"

	"github.com/btcsuite/btcd/btcutil/txsort"
	"github.com/btcsuite/btcd/wire"
)

// P2WPKH witness size, worst case: item count, then a DER signature of at
// most 71 bytes plus the sighash byte (low-S keeps S within 32 bytes; R may
// take 33), then the 33-byte compressed key, each with a length byte.
const p2wpkhWitnessSize = 1 + 1 + 72 + 1 + 33

// Build turns a Spend into an unsigned transaction. It is a pure function:
// every node that builds the same Spend gets the same bytes.
//
//   - All inputs are spent; inputs and outputs are put in BIP69 order.
//   - Version TxVersion, lock time 0, every sequence InputSequence.
//   - fee = FeeRate × EstimateVSize (signatures counted at their largest).
//   - Change goes to ChangeAddress unless it is below DustThreshold, in which
//     case it is added to the fee.
//
// It refuses: malformed spends (ErrBadSpend, ErrBadInput, ErrDuplicateInput,
// ErrMixedInputs), bad or foreign addresses (ErrBadAddress, ErrWrongNetwork),
// dust outputs (ErrDust), not enough input value (ErrInsufficientFunds), a
// fee over MaxFee (ErrFeeTooHigh) and non-standard size (ErrTooLarge).
func Build(spend Spend) (*wire.MsgTx, error) {
	tx, _, _, err := build(&spend)
	return tx, err
}

// build also returns the fee and the resolved spend, for Check.
func build(s *Spend) (*wire.MsgTx, int64, *resolved, error) {
	r, err := s.resolve()
	if err != nil {
		return nil, 0, nil, err
	}
	tx := wire.NewMsgTx(TxVersion)
	for _, in := range r.inputs {
		txIn := wire.NewTxIn(&in.OutPoint, nil, nil)
		txIn.Sequence = InputSequence
		tx.AddTxIn(txIn)
	}
	for _, out := range r.outputs {
		tx.AddTxOut(wire.NewTxOut(out.Value, out.PkScript))
	}

	var fee int64
	if s.Sweep {
		fee = s.FeeRate * EstimateVSize(tx)
		amount := r.totalIn - fee
		if dust := DustThreshold(tx.TxOut[0].PkScript); amount < dust {
			return nil, 0, nil, fmt.Errorf("%s: %w: sweep of %d sats leaves %d after a %d fee (dust %d)",
				s.Action, ErrInsufficientFunds, r.totalIn, amount, fee, dust)
		}
		tx.TxOut[0].Value = amount
	} else {
		feeBare := s.FeeRate * EstimateVSize(tx)
		if r.totalIn < r.totalOut+feeBare {
			return nil, 0, nil, fmt.Errorf("%s: %w: inputs %d < outputs %d + fee %d",
				s.Action, ErrInsufficientFunds, r.totalIn, r.totalOut, feeBare)
		}
		change := wire.NewTxOut(0, r.changeScript)
		tx.AddTxOut(change)
		feeWithChange := s.FeeRate * EstimateVSize(tx)
		change.Value = r.totalIn - r.totalOut - feeWithChange
		if change.Value < DustThreshold(r.changeScript) {
			tx.TxOut = tx.TxOut[:len(tx.TxOut)-1]
			fee = r.totalIn - r.totalOut
		} else {
			fee = feeWithChange
		}
	}
	if fee > s.MaxFee {
		return nil, 0, nil, fmt.Errorf("%s: %w: fee %d sats > ceiling %d", s.Action, ErrFeeTooHigh, fee, s.MaxFee)
	}
	if w := EstimateWeight(tx); w > MaxStandardWeight {
		return nil, 0, nil, fmt.Errorf("%s: %w: weight %d > %d", s.Action, ErrTooLarge, w, MaxStandardWeight)
	}
	txsort.InPlaceSort(tx)
	return tx, fee, r, nil
}

// EstimateWeight is the weight tx will have once every input carries a
// P2WPKH witness with a largest-size signature. Existing witnesses and
// signature scripts are ignored: the estimate is for the signed form.
func EstimateWeight(tx *wire.MsgTx) int64 {
	base := int64(4 + 4) // version, lock time
	base += int64(wire.VarIntSerializeSize(uint64(len(tx.TxIn))))
	base += int64(len(tx.TxIn)) * (32 + 4 + 1 + 4) // outpoint, empty script, sequence
	base += int64(wire.VarIntSerializeSize(uint64(len(tx.TxOut))))
	for _, out := range tx.TxOut {
		base += int64(out.SerializeSize())
	}
	witness := int64(2) + int64(len(tx.TxIn))*p2wpkhWitnessSize // marker, flag
	return base*4 + witness
}

// EstimateVSize is EstimateWeight in virtual bytes, rounded up.
func EstimateVSize(tx *wire.MsgTx) int64 {
	return (EstimateWeight(tx) + 3) / 4
}

// Fee returns total input value less total output value for tx, with the
// values of its inputs taken from prevouts.
func Fee(tx *wire.MsgTx, prevouts []UTXO) (int64, error) {
	byOutpoint, err := matchPrevouts(tx, prevouts)
	if err != nil {
		return 0, err
	}
	var in, out int64
	for _, u := range byOutpoint {
		in += u.Value
	}
	for _, o := range tx.TxOut {
		out += o.Value
	}
	return in - out, nil
}

// matchPrevouts checks that prevouts are exactly the coins tx spends, each
// once, and indexes them by outpoint.
func matchPrevouts(tx *wire.MsgTx, prevouts []UTXO) (map[wire.OutPoint]UTXO, error) {
	if err := wellFormed(tx); err != nil {
		return nil, err
	}
	if len(prevouts) != len(tx.TxIn) {
		return nil, fmt.Errorf("%w: %d prevouts for %d inputs", ErrPrevoutMismatch, len(prevouts), len(tx.TxIn))
	}
	m := make(map[wire.OutPoint]UTXO, len(prevouts))
	for i, p := range prevouts {
		if err := checkUTXO(p); err != nil {
			return nil, fmt.Errorf("prevout %d: %w", i, err)
		}
		if _, dup := m[p.OutPoint]; dup {
			return nil, fmt.Errorf("%w: prevout %v given twice", ErrPrevoutMismatch, p.OutPoint)
		}
		m[p.OutPoint] = p
	}
	spent := make(map[wire.OutPoint]bool, len(tx.TxIn))
	for i, in := range tx.TxIn {
		if spent[in.PreviousOutPoint] {
			return nil, fmt.Errorf("%w: input %d spends %v again", ErrDuplicateInput, i, in.PreviousOutPoint)
		}
		spent[in.PreviousOutPoint] = true
		if _, ok := m[in.PreviousOutPoint]; !ok {
			return nil, fmt.Errorf("%w: input %d spends %v, which has no prevout", ErrPrevoutMismatch, i, in.PreviousOutPoint)
		}
	}
	return m, nil
}

// wellFormed refuses a nil transaction, nil inputs or outputs, and a
// transaction without inputs, so no later step can panic on them.
func wellFormed(tx *wire.MsgTx) error {
	if tx == nil || len(tx.TxIn) == 0 {
		return fmt.Errorf("%w: no transaction or no inputs", ErrPrevoutMismatch)
	}
	for i, in := range tx.TxIn {
		if in == nil {
			return fmt.Errorf("%w: input %d is nil", ErrPrevoutMismatch, i)
		}
	}
	for i, out := range tx.TxOut {
		if out == nil {
			return fmt.Errorf("%w: output %d is nil", ErrOutputMismatch, i)
		}
	}
	return nil
}
