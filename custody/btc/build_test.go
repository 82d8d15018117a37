package btc_test

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"

	"github.com/btcsuite/btcd/btcutil/txsort"
	"github.com/btcsuite/btcd/wire"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/internal/testkey"
)

func serialize(t testing.TB, tx *wire.MsgTx) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The same spend, with inputs and outputs listed in any order, builds the
// same bytes: what every node relies on.
func TestBuildDeterministic(t *testing.T) {
	f := newFixture(t)
	want := serialize(t, f.build(t))
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		s := f.spend
		s.Inputs = append([]btc.UTXO(nil), f.spend.Inputs...)
		s.Outputs = append([]btc.Output(nil), f.spend.Outputs...)
		rng.Shuffle(len(s.Inputs), func(a, b int) { s.Inputs[a], s.Inputs[b] = s.Inputs[b], s.Inputs[a] })
		rng.Shuffle(len(s.Outputs), func(a, b int) { s.Outputs[a], s.Outputs[b] = s.Outputs[b], s.Outputs[a] })
		tx, err := btc.Build(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := serialize(t, tx); !bytes.Equal(got, want) {
			t.Fatalf("shuffle %d built different bytes", i)
		}
	}
}

func TestBuildShape(t *testing.T) {
	f := newFixture(t)
	tx := f.build(t)
	if tx.Version != btc.TxVersion || tx.LockTime != 0 || !txsort.IsSorted(tx) {
		t.Fatalf("version %d locktime %d sorted %v", tx.Version, tx.LockTime, txsort.IsSorted(tx))
	}
	if len(tx.TxIn) != 3 || len(tx.TxOut) != 3 {
		t.Fatalf("%d inputs, %d outputs", len(tx.TxIn), len(tx.TxOut))
	}
	for _, in := range tx.TxIn {
		if in.Sequence != btc.InputSequence || len(in.Witness) != 0 || len(in.SignatureScript) != 0 {
			t.Fatal("inputs must be unsigned with the fixed sequence")
		}
	}
	fee, err := btc.Fee(tx, f.prevouts)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.spend.FeeRate * btc.EstimateVSize(tx); fee != want {
		t.Fatalf("fee %d, want rate x vsize = %d", fee, want)
	}
	// 3 P2WPKH inputs, 3 P2WPKH outputs: 10.5 + 3*68 + 3*31 vB, rounded up.
	if v := btc.EstimateVSize(tx); v != 308 {
		t.Fatalf("vsize estimate %d, want 308", v)
	}
	var change int64
	for _, o := range tx.TxOut {
		if bytes.Equal(o.PkScript, f.script) {
			change = o.Value
		}
	}
	if change != 2_190_000-1_500_000-fee {
		t.Fatalf("change %d", change)
	}
}

func TestBuildDustChangeGoesToFee(t *testing.T) {
	f := newFixture(t)
	f.spend.Inputs = f.prevouts[:1] // 150_000
	f.spend.Outputs = []btc.Output{{Address: f.destA, Amount: 150_000 - 5*141 - 200}}
	tx := f.build(t)
	if len(tx.TxOut) != 1 {
		t.Fatalf("dust change must be dropped, got %d outputs", len(tx.TxOut))
	}
	fee, _ := btc.Fee(tx, f.prevouts[:1])
	if fee != 5*141+200 {
		t.Fatalf("fee %d", fee)
	}
}

func TestBuildSweep(t *testing.T) {
	f := newFixture(t)
	f.spend.Action = btc.ActionUnfreeze
	f.spend.Sweep = true
	f.spend.ChangeAddress = ""
	f.spend.Outputs = []btc.Output{{Address: f.destA}}
	tx := f.build(t)
	if len(tx.TxOut) != 1 {
		t.Fatalf("%d outputs", len(tx.TxOut))
	}
	fee, _ := btc.Fee(tx, f.prevouts)
	if fee != f.spend.FeeRate*btc.EstimateVSize(tx) || tx.TxOut[0].Value != 2_190_000-fee {
		t.Fatalf("fee %d value %d", fee, tx.TxOut[0].Value)
	}
	if err := btc.Check(tx, f.spend); err != nil {
		t.Fatal(err)
	}
}

func TestBuildRefusals(t *testing.T) {
	f := newFixture(t)
	mainnetAddr, _ := addressOf(t, testkey.Private("x").PubKey(), "mainnet")
	cases := []struct {
		name string
		edit func(s *btc.Spend)
		want error
	}{
		{"fee over ceiling", func(s *btc.Spend) { s.MaxFee = 1000 }, btc.ErrFeeTooHigh},
		{"dust change pushes fee over ceiling", func(s *btc.Spend) {
			s.Inputs = s.Inputs[:1]
			s.Outputs = []btc.Output{{Address: f.destA, Amount: 150_000 - 5*141 - 200}}
			s.MaxFee = 5 * 141
		}, btc.ErrFeeTooHigh},
		{"insufficient funds", func(s *btc.Spend) { s.Outputs[0].Amount = 2_000_000 }, btc.ErrInsufficientFunds},
		{"dust output", func(s *btc.Spend) { s.Outputs[0].Amount = 293 }, btc.ErrDust},
		{"zero output", func(s *btc.Spend) { s.Outputs[0].Amount = 0 }, btc.ErrBadSpend},
		{"bad address", func(s *btc.Spend) { s.Outputs[0].Address = "bcrt1qnotanaddress" }, btc.ErrBadAddress},
		{"wrong network", func(s *btc.Spend) { s.Outputs[0].Address = mainnetAddr }, btc.ErrWrongNetwork},
		{"wrong network change", func(s *btc.Spend) { s.ChangeAddress = mainnetAddr }, btc.ErrWrongNetwork},
		{"no change address", func(s *btc.Spend) { s.ChangeAddress = "" }, btc.ErrBadAddress},
		{"unknown network", func(s *btc.Spend) { s.Network = "litecoin" }, btc.ErrUnknownNetwork},
		{"unknown action", func(s *btc.Spend) { s.Action = "withdraw" }, btc.ErrBadSpend},
		{"no inputs", func(s *btc.Spend) { s.Inputs = nil }, btc.ErrBadSpend},
		{"no outputs", func(s *btc.Spend) { s.Outputs = nil }, btc.ErrBadSpend},
		{"zero fee rate", func(s *btc.Spend) { s.FeeRate = 0 }, btc.ErrBadSpend},
		{"absurd fee rate", func(s *btc.Spend) { s.FeeRate = btc.MaxFeeRate + 1 }, btc.ErrBadSpend},
		{"duplicate input", func(s *btc.Spend) { s.Inputs = append(s.Inputs, s.Inputs[0]) }, btc.ErrDuplicateInput},
		{"non-P2WPKH input", func(s *btc.Spend) { s.Inputs[1].PkScript = []byte{0x51} }, btc.ErrBadInput},
		{"zero-value input", func(s *btc.Spend) { s.Inputs[1].Value = 0 }, btc.ErrBadInput},
		{"mixed keys", func(s *btc.Spend) {
			_, other := addressOf(t, testkey.Private("other").PubKey(), "regtest")
			s.Inputs[1].PkScript = other
		}, btc.ErrMixedInputs},
		{"sweep with amount", func(s *btc.Spend) { s.Sweep = true; s.Outputs = s.Outputs[:1] }, btc.ErrBadSpend},
		{"sweep with two outputs", func(s *btc.Spend) { s.Sweep = true; s.Outputs[0].Amount, s.Outputs[1].Amount = 0, 0 }, btc.ErrBadSpend},
		{"too many outputs", func(s *btc.Spend) {
			for len(s.Outputs) <= btc.MaxOutputs {
				s.Outputs = append(s.Outputs, btc.Output{Address: f.destA, Amount: 1000})
			}
		}, btc.ErrBadSpend},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newFixture(t).spend
			c.edit(&s)
			if _, err := btc.Build(s); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestDustThreshold(t *testing.T) {
	f := newFixture(t)
	if d := btc.DustThreshold(f.script); d != 294 {
		t.Fatalf("P2WPKH dust %d, want 294", d)
	}
	p2pkh, _ := btc.DecodeAddress("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "mainnet")
	if d := btc.DustThreshold(p2pkh); d != 546 {
		t.Fatalf("P2PKH dust %d, want 546", d)
	}
	p2tr, _ := btc.DecodeAddress("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "mainnet")
	if d := btc.DustThreshold(p2tr); d != 330 {
		t.Fatalf("P2TR dust %d, want 330", d)
	}
}
