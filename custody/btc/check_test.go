package btc_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/wire"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/internal/testkey"
)

func TestCheckAcceptsCanonical(t *testing.T) {
	f := newFixture(t)
	if err := btc.Check(f.build(t), f.spend); err != nil {
		t.Fatal(err)
	}
}

// changeIndex finds the change output of a fixture transaction.
func changeIndex(t *testing.T, f *fixture, tx *wire.MsgTx) int {
	t.Helper()
	for i, o := range tx.TxOut {
		if bytes.Equal(o.PkScript, f.script) {
			return i
		}
	}
	t.Fatal("no change output")
	return -1
}

func TestCheckRefusals(t *testing.T) {
	_, attacker := addressOf(t, testkey.Private("attacker").PubKey(), "regtest")
	cases := []struct {
		name string
		edit func(f *fixture, tx *wire.MsgTx)
		want error
	}{
		{"changed output amount", func(f *fixture, tx *wire.MsgTx) {
			for _, o := range tx.TxOut {
				if o.Value == 1_000_000 {
					o.Value = 1_000_001
				}
			}
		}, btc.ErrOutputMismatch},
		{"changed destination", func(f *fixture, tx *wire.MsgTx) {
			for _, o := range tx.TxOut {
				if o.Value == 500_000 {
					o.PkScript = attacker
				}
			}
		}, btc.ErrOutputMismatch},
		{"dropped output", func(f *fixture, tx *wire.MsgTx) {
			for i, o := range tx.TxOut {
				if o.Value == 500_000 {
					tx.TxOut = append(tx.TxOut[:i], tx.TxOut[i+1:]...)
					break
				}
			}
		}, btc.ErrOutputMismatch},
		{"higher fee within ceiling", func(f *fixture, tx *wire.MsgTx) {
			tx.TxOut[changeIndex(t, f, tx)].Value -= 100
		}, btc.ErrFeeTooHigh},
		{"fee above ceiling", func(f *fixture, tx *wire.MsgTx) {
			tx.TxOut[changeIndex(t, f, tx)].Value -= 20_000
		}, btc.ErrFeeTooHigh},
		{"change removed (all to fee)", func(f *fixture, tx *wire.MsgTx) {
			i := changeIndex(t, f, tx)
			tx.TxOut = append(tx.TxOut[:i], tx.TxOut[i+1:]...)
		}, btc.ErrFeeTooHigh},
		{"wrong change address", func(f *fixture, tx *wire.MsgTx) {
			tx.TxOut[changeIndex(t, f, tx)].PkScript = attacker
		}, btc.ErrWrongChange},
		{"extra output", func(f *fixture, tx *wire.MsgTx) {
			i := changeIndex(t, f, tx)
			tx.TxOut[i].Value -= 1000
			tx.AddTxOut(wire.NewTxOut(1000, attacker))
		}, btc.ErrOutputMismatch},
		{"unknown input", func(f *fixture, tx *wire.MsgTx) {
			tx.TxIn[0].PreviousOutPoint.Index = 99
		}, btc.ErrUnexpectedInput},
		{"missing input", func(f *fixture, tx *wire.MsgTx) {
			tx.TxIn = tx.TxIn[1:]
		}, btc.ErrMissingInput},
		{"duplicate input", func(f *fixture, tx *wire.MsgTx) {
			tx.TxIn[1].PreviousOutPoint = tx.TxIn[0].PreviousOutPoint
		}, btc.ErrDuplicateInput},
		{"lower fee", func(f *fixture, tx *wire.MsgTx) {
			tx.TxOut[changeIndex(t, f, tx)].Value += 100
		}, btc.ErrTxMismatch},
		{"reordered outputs", func(f *fixture, tx *wire.MsgTx) {
			tx.TxOut[0], tx.TxOut[1] = tx.TxOut[1], tx.TxOut[0]
		}, btc.ErrTxMismatch},
		{"lock time", func(f *fixture, tx *wire.MsgTx) { tx.LockTime = 800_000 }, btc.ErrTxMismatch},
		{"sequence", func(f *fixture, tx *wire.MsgTx) { tx.TxIn[0].Sequence = 0 }, btc.ErrTxMismatch},
		{"version", func(f *fixture, tx *wire.MsgTx) { tx.Version = 1 }, btc.ErrTxMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			tx := f.build(t)
			c.edit(f, tx)
			if err := btc.Check(tx, f.spend); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestCheckRefusesBadSpendAndNil(t *testing.T) {
	f := newFixture(t)
	tx := f.build(t)
	bad := f.spend
	bad.MaxFee = 1
	if err := btc.Check(tx, bad); !errors.Is(err, btc.ErrFeeTooHigh) {
		t.Fatalf("got %v", err)
	}
	if err := btc.Check(nil, f.spend); !errors.Is(err, btc.ErrTxMismatch) {
		t.Fatalf("nil tx: got %v", err)
	}
}
