package btc_test

import (
	"bytes"
	"math/big"
	"math/rand"
	"testing"

	"github.com/btcsuite/btcd/wire"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/internal/testkey"
)

// exercise runs every entry point that takes a transaction on tx. None may
// panic, and Check may only accept the canonical transaction.
func exercise(t *testing.T, f *fixture, tx *wire.MsgTx, sigs []btc.Signature) {
	want := f.build(t).TxHash()
	if err := btc.Check(tx, f.spend); err == nil && tx.TxHash() != want {
		t.Fatalf("Check accepted a different transaction %v", tx.TxHash())
	}
	_, _ = btc.SigHashes(tx, f.prevouts)
	_, _ = btc.Fee(tx, f.prevouts)
	_, _ = btc.PSBT(tx, f.prevouts)
	_ = btc.VerifyTx(tx, f.prevouts)
	if signed, err := btc.Finalize(tx, f.prevouts, f.priv.PubKey(), sigs); err == nil {
		if btc.VerifyTx(signed, f.prevouts) != nil {
			t.Fatal("Finalize returned a transaction that does not verify")
		}
	}
}

// TestGarbageTransactions mutates the canonical transaction's bytes with a
// fixed seed; every decodable mutant goes through every entry point.
func TestGarbageTransactions(t *testing.T) {
	f := newFixture(t)
	canonical := serialize(t, f.build(t))
	sigs := []btc.Signature{{R: big.NewInt(1), S: big.NewInt(1)}, {}, {R: big.NewInt(-1), S: nil}}
	rng := rand.New(rand.NewSource(42))
	for i := 0; i < 3000; i++ {
		raw := append([]byte(nil), canonical...)
		for k := 0; k < 1+rng.Intn(4); k++ {
			raw[rng.Intn(len(raw))] ^= byte(1 << rng.Intn(8))
		}
		if rng.Intn(10) == 0 {
			raw = raw[:rng.Intn(len(raw))]
		}
		tx := wire.NewMsgTx(0)
		if tx.Deserialize(bytes.NewReader(raw)) != nil {
			continue
		}
		exercise(t, f, tx, sigs[:rng.Intn(4)])
	}
	exercise(t, f, &wire.MsgTx{}, nil)
}

func FuzzTransaction(fz *testing.F) {
	f := newFixture(fz)
	fz.Add(serialize(fz, f.build(fz)))
	fz.Add([]byte{})
	fz.Add([]byte{2, 0, 0, 0, 0, 1, 1})
	fz.Fuzz(func(t *testing.T, raw []byte) {
		tx := wire.NewMsgTx(0)
		if tx.Deserialize(bytes.NewReader(raw)) != nil {
			return
		}
		exercise(t, f, tx, []btc.Signature{{R: big.NewInt(7), S: big.NewInt(9)}})
	})
}

func FuzzSpend(fz *testing.F) {
	f := newFixture(fz)
	fz.Add(f.destA, int64(1_000_000), f.custody, int64(5), int64(10_000), false, 3)
	fz.Add(f.destB, int64(0), "", int64(1), int64(1<<40), true, 1)
	fz.Add("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", int64(-1), "x", int64(-3), int64(-1), false, 0)
	fz.Fuzz(func(t *testing.T, addr string, amount int64, change string, rate, maxFee int64, sweep bool, nIn int) {
		s := f.spend
		s.Outputs = []btc.Output{{Address: addr, Amount: amount}}
		s.ChangeAddress, s.FeeRate, s.MaxFee, s.Sweep = change, rate, maxFee, sweep
		if nIn >= 0 && nIn <= len(f.prevouts) {
			s.Inputs = f.prevouts[:nIn]
		}
		tx, err := btc.Build(s)
		if err != nil {
			return
		}
		if err := btc.Check(tx, s); err != nil {
			t.Fatalf("Check refused its own build: %v", err)
		}
		fee, err := btc.Fee(tx, s.Inputs)
		if err != nil || fee > s.MaxFee || fee < s.FeeRate*btc.EstimateVSize(tx) {
			t.Fatalf("fee %d (max %d, rate %d): %v", fee, s.MaxFee, s.FeeRate, err)
		}
	})
}

func FuzzParsePath(fz *testing.F) {
	for _, s := range []string{"m", "m/0/7", "m/0'", "m/2147483648", "m//", "M/1/2/3"} {
		fz.Add(s)
	}
	pub := testkey.Private("group").PubKey()
	fz.Fuzz(func(t *testing.T, s string) {
		path, err := btc.ParsePath(s)
		if err != nil {
			return
		}
		if again, err := btc.ParsePath(btc.FormatPath(path)); err != nil || len(again) != len(path) {
			t.Fatalf("round trip of %q: %v", s, err)
		}
		if len(path) <= 8 {
			if _, _, err := btc.DeriveChild(pub, btc.ChainCode(pub), path); err != nil {
				t.Fatalf("derive %q: %v", s, err)
			}
		}
	})
}

func FuzzDecodeAddress(fz *testing.F) {
	for _, s := range []string{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "", "bcrt1"} {
		fz.Add(s)
	}
	fz.Fuzz(func(t *testing.T, s string) {
		for _, n := range btc.Networks {
			_, _ = btc.DecodeAddress(s, n)
		}
	})
}

func TestNilPartsNeverPanic(t *testing.T) {
	f := newFixture(t)
	tx := f.build(t)
	for _, bad := range []*wire.MsgTx{
		nil,
		{TxIn: []*wire.TxIn{nil}},
		{TxIn: tx.TxIn, TxOut: []*wire.TxOut{nil}},
	} {
		exercise(t, f, bad, nil)
		if _, err := btc.Fee(bad, f.prevouts); err == nil {
			t.Fatal("Fee accepted a malformed transaction")
		}
	}
}
