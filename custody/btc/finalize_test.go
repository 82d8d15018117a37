package btc_test

import (
	"bytes"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/internal/testkey"
)

// signFixture builds, sighashes and signs the fixture spend.
func signFixture(t *testing.T, f *fixture) (*wire.MsgTx, []btc.Signature) {
	t.Helper()
	tx := f.build(t)
	// Shuffled prevouts: they are matched by outpoint, not position.
	prevouts := []btc.UTXO{f.prevouts[2], f.prevouts[0], f.prevouts[1]}
	hashes, err := btc.SigHashes(tx, prevouts)
	if err != nil {
		t.Fatal(err)
	}
	if len(hashes) != len(tx.TxIn) || hashes[0] == hashes[1] {
		t.Fatal("want one distinct sighash per input")
	}
	return tx, signAll(f.priv, hashes)
}

// The script engine recomputes every BIP143 sighash itself, so a passing
// Finalize also proves SigHashes right.
func TestFinalizeRoundTrip(t *testing.T) {
	f := newFixture(t)
	tx, sigs := signFixture(t, f)
	signed, err := btc.Finalize(tx, f.prevouts, f.priv.PubKey(), sigs)
	if err != nil {
		t.Fatal(err)
	}
	if len(tx.TxIn[0].Witness) != 0 {
		t.Fatal("Finalize must not modify its input")
	}
	if signed.TxHash() != tx.TxHash() {
		t.Fatal("witnesses must not change the txid")
	}
	if err := btc.VerifyTx(signed, f.prevouts); err != nil {
		t.Fatal(err)
	}
	if err := btc.Check(signed, f.spend); err != nil {
		t.Fatalf("Check of the signed tx: %v", err)
	}
	for i, in := range signed.TxIn {
		if len(in.Witness) != 2 || !bytes.Equal(in.Witness[1], f.priv.PubKey().SerializeCompressed()) {
			t.Fatalf("input %d: witness %x", i, in.Witness)
		}
		der := in.Witness[0]
		if der[len(der)-1] != byte(txscript.SigHashAll) {
			t.Fatalf("input %d: sighash byte %x", i, der[len(der)-1])
		}
		sig, err := ecdsa.ParseDERSignature(der[:len(der)-1])
		if err != nil {
			t.Fatalf("input %d: not strict DER: %v", i, err)
		}
		if s := sig.S(); s.IsOverHalfOrder() {
			t.Fatalf("input %d: high S", i)
		}
	}
	// The fee estimate never undershoots and is tight.
	actual := (blockchain.GetTransactionWeight(btcutil.NewTx(signed)) + 3) / 4
	est := btc.EstimateVSize(tx)
	if actual > est || est-actual > int64(len(tx.TxIn)) {
		t.Fatalf("vsize %d, estimate %d", actual, est)
	}
}

func TestFinalizeNormalisesHighS(t *testing.T) {
	f := newFixture(t)
	tx, sigs := signFixture(t, f)
	n := btcec.S256().N
	for i := range sigs {
		sigs[i].S = new(big.Int).Sub(n, sigs[i].S) // the other valid S
	}
	signed, err := btc.Finalize(tx, f.prevouts, f.priv.PubKey(), sigs)
	if err != nil {
		t.Fatalf("high-S input must be normalised, got %v", err)
	}
	for _, in := range signed.TxIn {
		sig, _ := ecdsa.ParseDERSignature(in.Witness[0][:len(in.Witness[0])-1])
		if s := sig.S(); s.IsOverHalfOrder() {
			t.Fatal("high S survived")
		}
	}
}

func TestFinalizeRejects(t *testing.T) {
	n := btcec.S256().N
	cases := []struct {
		name string
		edit func(f *fixture, sigs []btc.Signature) (*btcec.PublicKey, []btc.Signature)
		want error
	}{
		{"signature by another key", func(f *fixture, sigs []btc.Signature) (*btcec.PublicKey, []btc.Signature) {
			tx := f.build(t)
			h, _ := btc.SigHashes(tx, f.prevouts)
			return f.priv.PubKey(), signAll(testkey.Private("mallory"), h)
		}, btc.ErrScriptFailed},
		{"signatures swapped between inputs", func(f *fixture, sigs []btc.Signature) (*btcec.PublicKey, []btc.Signature) {
			sigs[0], sigs[1] = sigs[1], sigs[0]
			return f.priv.PubKey(), sigs
		}, btc.ErrScriptFailed},
		{"tweaked s", func(f *fixture, sigs []btc.Signature) (*btcec.PublicKey, []btc.Signature) {
			sigs[2].S = new(big.Int).Add(sigs[2].S, big.NewInt(1))
			return f.priv.PubKey(), sigs
		}, btc.ErrScriptFailed},
		{"key does not own inputs", func(f *fixture, sigs []btc.Signature) (*btcec.PublicKey, []btc.Signature) {
			return testkey.Private("mallory").PubKey(), sigs
		}, btc.ErrKeyMismatch},
		{"nil key", func(f *fixture, sigs []btc.Signature) (*btcec.PublicKey, []btc.Signature) {
			return nil, sigs
		}, btc.ErrBadPublicKey},
		{"too few signatures", func(f *fixture, sigs []btc.Signature) (*btcec.PublicKey, []btc.Signature) {
			return f.priv.PubKey(), sigs[:2]
		}, btc.ErrBadSignature},
		{"r = 0", func(f *fixture, sigs []btc.Signature) (*btcec.PublicKey, []btc.Signature) {
			sigs[0].R = big.NewInt(0)
			return f.priv.PubKey(), sigs
		}, btc.ErrBadSignature},
		{"s = n", func(f *fixture, sigs []btc.Signature) (*btcec.PublicKey, []btc.Signature) {
			sigs[0].S = new(big.Int).Set(n)
			return f.priv.PubKey(), sigs
		}, btc.ErrBadSignature},
		{"negative r", func(f *fixture, sigs []btc.Signature) (*btcec.PublicKey, []btc.Signature) {
			sigs[0].R = big.NewInt(-5)
			return f.priv.PubKey(), sigs
		}, btc.ErrBadSignature},
		{"huge s", func(f *fixture, sigs []btc.Signature) (*btcec.PublicKey, []btc.Signature) {
			sigs[0].S = new(big.Int).Lsh(big.NewInt(1), 4000)
			return f.priv.PubKey(), sigs
		}, btc.ErrBadSignature},
		{"nil r", func(f *fixture, sigs []btc.Signature) (*btcec.PublicKey, []btc.Signature) {
			sigs[1].R = nil
			return f.priv.PubKey(), sigs
		}, btc.ErrBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			tx, sigs := signFixture(t, f)
			pub, sigs := c.edit(f, sigs)
			signed, err := btc.Finalize(tx, f.prevouts, pub, sigs)
			if !errors.Is(err, c.want) || signed != nil {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestPrevoutMismatch(t *testing.T) {
	f := newFixture(t)
	tx, sigs := signFixture(t, f)
	other := fakeUTXO("other", 0, 1000, f.script)
	for name, prevouts := range map[string][]btc.UTXO{
		"missing": f.prevouts[:2],
		"foreign": {f.prevouts[0], f.prevouts[1], other},
		"twice":   {f.prevouts[0], f.prevouts[0], f.prevouts[1]},
	} {
		if _, err := btc.SigHashes(tx, prevouts); !errors.Is(err, btc.ErrPrevoutMismatch) {
			t.Errorf("SigHashes %s: %v", name, err)
		}
		if _, err := btc.Finalize(tx, prevouts, f.priv.PubKey(), sigs); !errors.Is(err, btc.ErrPrevoutMismatch) {
			t.Errorf("Finalize %s: %v", name, err)
		}
	}
	// An amount that differs from the real one changes the BIP143 digest:
	// the engine, given the true amounts, refuses.
	lying := append([]btc.UTXO(nil), f.prevouts...)
	lying[0].Value++
	h, _ := btc.SigHashes(tx, lying)
	bad, err := btc.Finalize(tx, lying, f.priv.PubKey(), signAll(f.priv, h))
	if err != nil {
		t.Fatal(err) // consistent with the lie...
	}
	if err := btc.VerifyTx(bad, f.prevouts); !errors.Is(err, btc.ErrScriptFailed) {
		t.Fatalf("...but not with the truth: %v", err)
	}
}

func TestPSBT(t *testing.T) {
	f := newFixture(t)
	tx := f.build(t)
	p, err := btc.PSBT(tx, f.prevouts)
	if err != nil {
		t.Fatal(err)
	}
	b64, err := p.B64Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := psbt.NewFromRawBytes(strings.NewReader(b64), true)
	if err != nil {
		t.Fatal(err)
	}
	if back.UnsignedTx.TxHash() != tx.TxHash() {
		t.Fatal("PSBT carries a different transaction")
	}
	for i, in := range back.Inputs {
		prev := back.UnsignedTx.TxIn[i].PreviousOutPoint
		var want btc.UTXO
		for _, u := range f.prevouts {
			if u.OutPoint == prev {
				want = u
			}
		}
		if in.WitnessUtxo == nil || in.WitnessUtxo.Value != want.Value || in.SighashType != txscript.SigHashAll {
			t.Fatalf("input %d: %+v", i, in)
		}
	}
	fee, err := p.GetTxFee()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := btc.Fee(tx, f.prevouts); int64(fee) != want {
		t.Fatalf("PSBT fee %d, want %d", fee, want)
	}
}
