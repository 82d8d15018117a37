package btc

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Action names the custody operation a Spend carries out. All three build
// the same way; the action is checked, carried in errors and shown to
// operators. Which action may pay whom is policy and lives in package custody.
type Action string

const (
	ActionRelease     Action = "collateral-release"
	ActionLiquidation Action = "liquidation"
	ActionUnfreeze    Action = "emergency-unfreeze"
)

// Limits that keep a Spend standard and bounded.
const (
	MaxInputs  = 500
	MaxOutputs = 100
	// MaxFeeRate (sat/vB) refuses fat-finger fee rates outright.
	MaxFeeRate = 10_000
	// MaxStandardWeight is Bitcoin Core's and btcd's standardness limit.
	MaxStandardWeight = 400_000
	// DustRelayFeeRate (sat/vB) is Bitcoin Core's dust relay fee; it is
	// stricter than btcd's 1 sat/vB, so outputs relay on both.
	DustRelayFeeRate = 3
	// TxVersion and InputSequence are fixed so every node builds the same
	// bytes. The sequence signals replace-by-fee (BIP125) so an operator can
	// bump a stuck transaction with a new, separately signed spend.
	TxVersion     = 2
	InputSequence = wire.MaxTxInSequenceNum - 2
)

// UTXO is a coin the custody key (or a derived child key) can spend.
type UTXO struct {
	OutPoint wire.OutPoint
	Value    int64  // satoshis
	PkScript []byte // must be P2WPKH
}

// Output is one payment a typed request asks for.
type Output struct {
	Address string
	Amount  int64 // satoshis; 0 for the single output of a sweep
}

// Spend is the typed description of a transaction. The same Spend builds a
// byte-identical transaction on every node (see Build).
type Spend struct {
	Action  Action
	Network string // see Networks
	// Inputs are all spent, none is left out. They must share one P2WPKH
	// script: one spend moves the coins of one key (custody or one client's
	// child key), so client funds are never mixed in one transaction.
	Inputs  []UTXO
	Outputs []Output
	// Sweep sends everything but the fee to the single output, whose Amount
	// must be 0. There is no change.
	Sweep bool
	// ChangeAddress receives the change unless it would be dust (then the
	// remainder goes to the fee). Policy must make it the custody address.
	// Ignored, and may be empty, for a sweep.
	ChangeAddress string
	FeeRate       int64 // sat/vB, at least 1
	MaxFee        int64 // satoshis; a fee above it is refused
}

// resolved is a validated Spend with addresses turned into scripts.
type resolved struct {
	inputs       []UTXO
	outputs      []*wire.TxOut
	changeScript []byte
	totalIn      int64
	totalOut     int64 // without change
}

func (s *Spend) resolve() (*resolved, error) {
	switch s.Action {
	case ActionRelease, ActionLiquidation, ActionUnfreeze:
	default:
		return nil, fmt.Errorf("%w: unknown action %q", ErrBadSpend, s.Action)
	}
	if _, err := NetParams(s.Network); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Action, err)
	}
	if s.FeeRate < 1 || s.FeeRate > MaxFeeRate {
		return nil, fmt.Errorf("%w: %s: fee rate %d sat/vB outside [1, %d]", ErrBadSpend, s.Action, s.FeeRate, MaxFeeRate)
	}
	if s.MaxFee < 0 {
		return nil, fmt.Errorf("%w: %s: negative fee ceiling %d", ErrBadSpend, s.Action, s.MaxFee)
	}
	if len(s.Inputs) == 0 || len(s.Inputs) > MaxInputs {
		return nil, fmt.Errorf("%w: %s: %d inputs, want 1..%d", ErrBadSpend, s.Action, len(s.Inputs), MaxInputs)
	}
	if len(s.Outputs) == 0 || len(s.Outputs) > MaxOutputs {
		return nil, fmt.Errorf("%w: %s: %d outputs, want 1..%d", ErrBadSpend, s.Action, len(s.Outputs), MaxOutputs)
	}
	r := &resolved{}
	seen := make(map[wire.OutPoint]bool, len(s.Inputs))
	for i, in := range s.Inputs {
		if err := checkUTXO(in); err != nil {
			return nil, fmt.Errorf("%s: input %d: %w", s.Action, i, err)
		}
		if seen[in.OutPoint] {
			return nil, fmt.Errorf("%s: input %d: %w: %v", s.Action, i, ErrDuplicateInput, in.OutPoint)
		}
		seen[in.OutPoint] = true
		if !bytes.Equal(in.PkScript, s.Inputs[0].PkScript) {
			return nil, fmt.Errorf("%s: input %d: %w", s.Action, i, ErrMixedInputs)
		}
		r.totalIn += in.Value
		r.inputs = append(r.inputs, UTXO{OutPoint: in.OutPoint, Value: in.Value, PkScript: append([]byte(nil), in.PkScript...)})
	}
	if s.Sweep && (len(s.Outputs) != 1 || s.Outputs[0].Amount != 0) {
		return nil, fmt.Errorf("%w: %s: a sweep has exactly one output with amount 0", ErrBadSpend, s.Action)
	}
	for i, o := range s.Outputs {
		script, err := DecodeAddress(o.Address, s.Network)
		if err != nil {
			return nil, fmt.Errorf("%s: output %d: %w", s.Action, i, err)
		}
		if !s.Sweep {
			if o.Amount <= 0 || o.Amount > btcutil.MaxSatoshi {
				return nil, fmt.Errorf("%w: %s: output %d amount %d", ErrBadSpend, s.Action, i, o.Amount)
			}
			if dust := DustThreshold(script); o.Amount < dust {
				return nil, fmt.Errorf("%s: output %d: %w: %d < %d sats", s.Action, i, ErrDust, o.Amount, dust)
			}
		}
		r.totalOut += o.Amount
		r.outputs = append(r.outputs, wire.NewTxOut(o.Amount, script))
	}
	if !s.Sweep {
		script, err := DecodeAddress(s.ChangeAddress, s.Network)
		if err != nil {
			return nil, fmt.Errorf("%s: change address: %w", s.Action, err)
		}
		r.changeScript = script
	}
	return r, nil
}

func checkUTXO(in UTXO) error {
	if in.Value <= 0 || in.Value > btcutil.MaxSatoshi {
		return fmt.Errorf("%w: value %d", ErrBadInput, in.Value)
	}
	if !txscript.IsPayToWitnessPubKeyHash(in.PkScript) {
		return fmt.Errorf("%w: %v is not P2WPKH", ErrBadInput, in.OutPoint)
	}
	return nil
}

// DustThreshold is the smallest amount an output with this script may carry
// under Bitcoin Core's dust rule at DustRelayFeeRate (294 sats for P2WPKH,
// 330 for P2WSH/P2TR, 540 for P2SH, 546 for P2PKH).
func DustThreshold(pkScript []byte) int64 {
	size := int64(8 + wire.VarIntSerializeSize(uint64(len(pkScript))) + len(pkScript))
	if txscript.IsWitnessProgram(pkScript) {
		size += 32 + 4 + 1 + 107/4 + 4 // spending input, witness discounted
	} else {
		size += 32 + 4 + 1 + 107 + 4
	}
	return size * DustRelayFeeRate
}
