package btc_test

import (
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/internal/testkey"
)

// signAll signs each digest like a threshold session would: digest in,
// (r, s) out.
func signAll(priv *btcec.PrivateKey, digests [][32]byte) []btc.Signature {
	sigs := make([]btc.Signature, len(digests))
	for i, d := range digests {
		sig := ecdsa.Sign(priv, d[:])
		r, s := sig.R(), sig.S()
		rb, sb := r.Bytes(), s.Bytes()
		sigs[i] = btc.SignatureFromBytes(rb[:], sb[:])
	}
	return sigs
}

// addressOf returns the P2WPKH address and script of pub on network.
func addressOf(t testing.TB, pub *btcec.PublicKey, network string) (string, []byte) {
	t.Helper()
	addr, err := btc.CustodyAddress(pub, network)
	if err != nil {
		t.Fatal(err)
	}
	script, err := btc.P2WPKHScript(pub)
	if err != nil {
		t.Fatal(err)
	}
	return addr.String(), script
}

// fakeUTXO makes a coin with a txid derived from label.
func fakeUTXO(label string, index uint32, value int64, script []byte) btc.UTXO {
	return btc.UTXO{
		OutPoint: wire.OutPoint{Hash: chainhash.HashH([]byte(label)), Index: index},
		Value:    value,
		PkScript: script,
	}
}

// fixture is a spend from a regtest custody key to two destinations.
type fixture struct {
	priv     *btcec.PrivateKey
	custody  string
	script   []byte
	destA    string
	destB    string
	spend    btc.Spend
	prevouts []btc.UTXO
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{priv: testkey.Private("custody")}
	f.custody, f.script = addressOf(t, f.priv.PubKey(), "regtest")
	f.destA, _ = addressOf(t, testkey.Private("client-a").PubKey(), "regtest")
	f.destB, _ = addressOf(t, testkey.Private("client-b").PubKey(), "regtest")
	f.prevouts = []btc.UTXO{
		fakeUTXO("coin-1", 0, 150_000, f.script),
		fakeUTXO("coin-2", 3, 2_000_000, f.script),
		fakeUTXO("coin-3", 1, 40_000, f.script),
	}
	f.spend = btc.Spend{
		Action:        btc.ActionRelease,
		Network:       "regtest",
		Inputs:        append([]btc.UTXO(nil), f.prevouts...),
		Outputs:       []btc.Output{{Address: f.destA, Amount: 1_000_000}, {Address: f.destB, Amount: 500_000}},
		ChangeAddress: f.custody,
		FeeRate:       5,
		MaxFee:        10_000,
	}
	return f
}

func (f *fixture) build(t testing.TB) *wire.MsgTx {
	t.Helper()
	tx, err := btc.Build(f.spend)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return tx
}
