package btc

import (
	"fmt"
	"math/big"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/tss"
)

// Signature is an ECDSA signature (r, s) over one sighash, as a threshold
// signing session returns it: tss.Signature, Triad's one signature type.
// The recovery byte is not needed.
type Signature = tss.Signature

// SignatureFromBytes builds a Signature from big-endian r and s, the form
// of tss-lib's common.SignatureData.
func SignatureFromBytes(r, s []byte) Signature {
	return Signature{R: new(big.Int).SetBytes(r), S: new(big.Int).SetBytes(s)}
}

// Finalize attaches signatures to tx and returns a new, fully verified
// transaction; tx itself is not modified. sigs[i] signs SigHashes(tx,
// prevouts)[i], and every input must be locked to pub (the group key or the
// derived child key the signatures were made with).
//
// Each signature is normalised to low S, DER-encoded with SIGHASH_ALL and
// placed in a P2WPKH witness. Every input is then run through btcd's script
// engine (VerifyTx); any failure returns ErrScriptFailed and no transaction.
func Finalize(tx *wire.MsgTx, prevouts []UTXO, pub *btcec.PublicKey, sigs []Signature) (*wire.MsgTx, error) {
	if _, err := matchPrevouts(tx, prevouts); err != nil {
		return nil, fmt.Errorf("finalize: %w", err)
	}
	if _, err := P2WPKHScript(pub); err != nil {
		return nil, fmt.Errorf("finalize: %w", err)
	}
	if len(sigs) != len(tx.TxIn) {
		return nil, fmt.Errorf("finalize: %w: %d signatures for %d inputs", ErrBadSignature, len(sigs), len(tx.TxIn))
	}
	return FinalizeEach(tx, prevouts, slices.Repeat([]*btcec.PublicKey{pub}, len(tx.TxIn)), sigs)
}

// encodeSignature range-checks r and s, normalises s to the lower half of
// the group order (BIP62/BIP146 LOW_S), and DER-encodes the result.
func encodeSignature(sig Signature) ([]byte, error) {
	var r, s btcec.ModNScalar
	if err := toScalar(sig.R, &r); err != nil {
		return nil, fmt.Errorf("%w: r %v", ErrBadSignature, err)
	}
	if err := toScalar(sig.S, &s); err != nil {
		return nil, fmt.Errorf("%w: s %v", ErrBadSignature, err)
	}
	if s.IsOverHalfOrder() {
		s.Negate()
	}
	return ecdsa.NewSignature(&r, &s).Serialize(), nil
}

func toScalar(v *big.Int, out *btcec.ModNScalar) error {
	if v == nil || v.Sign() <= 0 || v.BitLen() > 256 {
		return fmt.Errorf("out of range")
	}
	if overflow := out.SetByteSlice(v.Bytes()); overflow {
		return fmt.Errorf("not below the group order")
	}
	return nil
}

// VerifyTx runs every input of tx through btcd's script engine with
// StandardVerifyFlags, against prevouts (exactly the coins tx spends). Use it
// on any signed transaction before broadcasting it, including one a peer
// finalised.
func VerifyTx(tx *wire.MsgTx, prevouts []UTXO) error {
	byOutpoint, err := matchPrevouts(tx, prevouts)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	fetcher := prevoutFetcher(byOutpoint)
	cache := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range tx.TxIn {
		u := byOutpoint[in.PreviousOutPoint]
		vm, err := txscript.NewEngine(u.PkScript, tx, i, txscript.StandardVerifyFlags, nil, cache, u.Value, fetcher)
		if err != nil {
			return fmt.Errorf("verify input %d: %w: %v", i, ErrScriptFailed, err)
		}
		if err := vm.Execute(); err != nil {
			return fmt.Errorf("verify input %d: %w: %v", i, ErrScriptFailed, err)
		}
	}
	return nil
}
