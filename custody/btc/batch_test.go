package btc_test

import (
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/internal/testkey"
)

// A transaction spending the coins of two keys finalizes with each input's
// own key and passes the script engine; a key swapped between inputs, or
// a signature of the other key, is refused. The weight parts add up to
// EstimateWeight (the batch fee shares rely on it).
func TestFinalizeEachTwoKeys(t *testing.T) {
	a, b := testkey.Private("account-a"), testkey.Private("account-b")
	_, scriptA := addressOf(t, a.PubKey(), "regtest")
	_, scriptB := addressOf(t, b.PubKey(), "regtest")
	_, dest := addressOf(t, testkey.Private("lender").PubKey(), "regtest")
	prevouts := []btc.UTXO{fakeUTXO("a", 0, 100_000, scriptA), fakeUTXO("b", 1, 200_000, scriptB)}
	tx := wire.NewMsgTx(btc.TxVersion)
	for _, p := range prevouts {
		tx.AddTxIn(wire.NewTxIn(&p.OutPoint, nil, nil))
	}
	tx.AddTxOut(wire.NewTxOut(250_000, dest))
	tx.AddTxOut(wire.NewTxOut(40_000, scriptB))
	digests, err := btc.SigHashes(tx, prevouts)
	if err != nil {
		t.Fatal(err)
	}
	sigs := append(signAll(a, digests[:1]), signAll(b, digests[1:])...)
	pubs := []*btcec.PublicKey{a.PubKey(), b.PubKey()}
	signed, err := btc.FinalizeEach(tx, prevouts, pubs, sigs)
	if err != nil {
		t.Fatal(err)
	}
	if err := btc.VerifyTx(signed, prevouts); err != nil || signed.TxHash() != tx.TxHash() {
		t.Fatalf("finalized batch: %v", err)
	}
	if _, err := btc.FinalizeEach(tx, prevouts, []*btcec.PublicKey{b.PubKey(), a.PubKey()}, sigs); !errors.Is(err, btc.ErrKeyMismatch) {
		t.Fatalf("keys swapped: %v", err)
	}
	wrong := append(signAll(b, digests[:1]), signAll(b, digests[1:])...)
	if _, err := btc.FinalizeEach(tx, prevouts, pubs, wrong); !errors.Is(err, btc.ErrScriptFailed) {
		t.Fatalf("signature of another key: %v", err)
	}
	want := btc.OverheadWeight(2, 2) + 2*btc.InputWeight + btc.OutputWeight(dest) + btc.OutputWeight(scriptB)
	if got := btc.EstimateWeight(tx); got != want {
		t.Fatalf("weight parts add to %d, EstimateWeight %d", want, got)
	}
}
