package btc

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// FinalizeEach is Finalize for a transaction whose inputs are locked to
// different keys (a liquidation batch spends the coins of several
// accounts): pubs[i] is the key of input i, sigs[i] its signature over
// SigHashes(tx, prevouts)[i]. Every input's coin must be locked to its
// key, and the result must pass btcd's script engine; otherwise no
// transaction is returned.
func FinalizeEach(tx *wire.MsgTx, prevouts []UTXO, pubs []*btcec.PublicKey, sigs []Signature) (*wire.MsgTx, error) {
	byOutpoint, err := matchPrevouts(tx, prevouts)
	if err != nil {
		return nil, fmt.Errorf("finalize: %w", err)
	}
	if len(sigs) != len(tx.TxIn) || len(pubs) != len(tx.TxIn) {
		return nil, fmt.Errorf("finalize: %w: %d signatures and %d keys for %d inputs", ErrBadSignature, len(sigs), len(pubs), len(tx.TxIn))
	}
	out := tx.Copy()
	for i, in := range out.TxIn {
		script, err := P2WPKHScript(pubs[i])
		if err != nil {
			return nil, fmt.Errorf("finalize input %d: %w", i, err)
		}
		if !bytes.Equal(byOutpoint[in.PreviousOutPoint].PkScript, script) {
			return nil, fmt.Errorf("finalize input %d: %w", i, ErrKeyMismatch)
		}
		der, err := encodeSignature(sigs[i])
		if err != nil {
			return nil, fmt.Errorf("finalize input %d: %w", i, err)
		}
		in.SignatureScript = nil
		in.Witness = wire.TxWitness{append(der, byte(txscript.SigHashAll)), pubs[i].SerializeCompressed()}
	}
	if err := VerifyTx(out, prevouts); err != nil {
		return nil, fmt.Errorf("finalize: %w", err)
	}
	return out, nil
}

// InputWeight is the weight one P2WPKH input adds to a transaction, its
// witness counted at the largest signature (as EstimateWeight does).
const InputWeight = (32+4+1+4)*4 + p2wpkhWitnessSize

// OutputWeight is the weight an output with pkScript adds.
func OutputWeight(pkScript []byte) int64 {
	return int64(wire.NewTxOut(0, pkScript).SerializeSize()) * 4
}

// OverheadWeight is the weight of a transaction with nIn inputs and nOut
// outputs beyond them: version, lock time, the counts, segwit marker and
// flag. OverheadWeight + nIn×InputWeight + the outputs' OutputWeight is
// EstimateWeight.
func OverheadWeight(nIn, nOut int) int64 {
	return int64(4+4+wire.VarIntSerializeSize(uint64(nIn))+wire.VarIntSerializeSize(uint64(nOut)))*4 + 2
}
