package btc

import (
	"fmt"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// PSBT returns a BIP174 packet of the unsigned form of tx, with each input's
// witness UTXO and SIGHASH_ALL filled in, for operators to inspect with any
// PSBT-aware wallet (B64Encode for display). It is for display: signing does
// not go through it. Witnesses in tx are dropped.
func PSBT(tx *wire.MsgTx, prevouts []UTXO) (*psbt.Packet, error) {
	byOutpoint, err := matchPrevouts(tx, prevouts)
	if err != nil {
		return nil, fmt.Errorf("psbt: %w", err)
	}
	unsigned := tx.Copy()
	for _, in := range unsigned.TxIn {
		in.SignatureScript, in.Witness = nil, nil
	}
	p, err := psbt.NewFromUnsignedTx(unsigned)
	if err != nil {
		return nil, fmt.Errorf("psbt: %w: %v", ErrBadSpend, err)
	}
	u, err := psbt.NewUpdater(p)
	if err != nil {
		return nil, fmt.Errorf("psbt: %w: %v", ErrBadSpend, err)
	}
	for i, in := range unsigned.TxIn {
		prev := byOutpoint[in.PreviousOutPoint]
		if err := u.AddInWitnessUtxo(wire.NewTxOut(prev.Value, prev.PkScript), i); err != nil {
			return nil, fmt.Errorf("psbt input %d: %w: %v", i, ErrBadSpend, err)
		}
		if err := u.AddInSighashType(txscript.SigHashAll, i); err != nil {
			return nil, fmt.Errorf("psbt input %d: %w: %v", i, ErrBadSpend, err)
		}
	}
	return p, nil
}
