package btc

import (
	"fmt"

	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// SigHashes returns the BIP143 SIGHASH_ALL digest of every input of tx, in
// input order. prevouts must be exactly the P2WPKH coins tx spends (in any
// order). A signer computes these from the transaction it built or checked
// itself and hands each digest to a threshold signing session; it never signs
// a digest it was given.
func SigHashes(tx *wire.MsgTx, prevouts []UTXO) ([][32]byte, error) {
	byOutpoint, err := matchPrevouts(tx, prevouts)
	if err != nil {
		return nil, fmt.Errorf("sighashes: %w", err)
	}
	fetcher := prevoutFetcher(byOutpoint)
	cache := txscript.NewTxSigHashes(tx, fetcher)
	out := make([][32]byte, len(tx.TxIn))
	for i, in := range tx.TxIn {
		u := byOutpoint[in.PreviousOutPoint]
		h, err := txscript.CalcWitnessSigHash(u.PkScript, cache, txscript.SigHashAll, tx, i, u.Value)
		if err != nil {
			return nil, fmt.Errorf("sighash of input %d: %w: %v", i, ErrBadInput, err)
		}
		copy(out[i][:], h)
	}
	return out, nil
}

func prevoutFetcher(byOutpoint map[wire.OutPoint]UTXO) *txscript.MultiPrevOutFetcher {
	m := make(map[wire.OutPoint]*wire.TxOut, len(byOutpoint))
	for op, u := range byOutpoint {
		m[op] = wire.NewTxOut(u.Value, u.PkScript)
	}
	return txscript.NewMultiPrevOutFetcher(m)
}
