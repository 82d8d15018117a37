package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody/btc"
)

// The storm's on-chain verdict (checkPayments) without a cluster: a
// liquidation counts as paid exactly once only when its own output is on
// chain once and no other liquidation claims it (../shared/SECURITY.md scenarios 22
// and 27). Each way of not being paid is named with the liquidation.
func TestStormVerdict(t *testing.T) {
	settle := []byte{0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	other := []byte{0x00, 0x14, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}
	newTx := func(seed uint32, outs ...*wire.TxOut) *wire.MsgTx {
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: seed}, nil, nil))
		for _, o := range outs {
			tx.AddTxOut(o)
		}
		return tx
	}
	liq := func(name string, amount uint64) *liquidation {
		l := &liquidation{acct: stormAccount{ID: name}, idem: "k-" + name, amount: amount}
		l.orig = submission{Code: 201, ID: strings.Repeat(name[len(name)-1:], 64)}
		l.view = stormView{ID: l.orig.ID, Status: "done"}
		return l
	}
	vout := func(i uint32) *uint32 { return &i }
	a, b, c, d, e, f := liq("acct-a", 1000), liq("acct-b", 2000), liq("acct-c", 3000), liq("acct-d", 4000), liq("acct-e", 5000), liq("acct-f", 6000)
	// t1 pays a and b; t2 pays d twice, f once, and an amount nobody asked for.
	t1 := newTx(1, wire.NewTxOut(1000, settle), wire.NewTxOut(2000, settle), wire.NewTxOut(50_000, other))
	t2 := newTx(2, wire.NewTxOut(4000, settle), wire.NewTxOut(4000, settle), wire.NewTxOut(6000, settle), wire.NewTxOut(777, settle))
	chain := map[string]chainTx{
		t1.TxHash().String(): {Tx: t1, BlockHash: "b1", Confirmations: 2},
		t2.TxHash().String(): {Tx: t2, BlockHash: "b2", Confirmations: 1},
	}
	getTx := func(id string) (chainTx, error) {
		if tx, ok := chain[id]; ok {
			return tx, nil
		}
		return chainTx{}, errors.New("no such transaction")
	}
	var outs []btc.Unspent
	for _, tx := range []*wire.MsgTx{t1, t2} {
		for i, o := range tx.TxOut {
			if string(o.PkScript) == string(settle) {
				outs = append(outs, btc.Unspent{UTXO: btc.UTXO{OutPoint: wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}, Value: o.Value, PkScript: o.PkScript}, Confirmations: 1})
			}
		}
	}
	t0 := time.Now()
	mined := map[string]time.Time{"b1": t0.Add(time.Second), "b2": t0.Add(3 * time.Second)}
	minedAt := func(h string) (time.Time, bool) { at, ok := mined[h]; return at, ok }

	// Every liquidation paid exactly once: a and b alone.
	ok := &stormReport{opts: stormOpts{N: 2}, liqs: []*liquidation{a, b}, start: t0}
	a.view.Settlement = &stormSettlement{TxID: t1.TxHash().String(), Vout: vout(0), Confirmations: 2}
	b.view.Settlement = &stormSettlement{TxID: t1.TxHash().String(), Confirmations: 2} // no index: found by amount
	okOuts := outs[:2]
	if err := ok.checkPayments(settle, okOuts, getTx, minedAt); err != nil {
		t.Fatal(err)
	}
	if f := ok.failures(); len(f) != 0 || ok.paidOnce != 2 || ok.transactions != 1 || !ok.lastConf.Equal(mined["b1"]) {
		t.Fatalf("a clean storm: paid once %d, %d transactions, failures %q", ok.paidOnce, ok.transactions, f)
	}

	// c claims b's output; d is paid twice; e names a transaction that
	// is not on chain; f is paid but its view names nothing.
	c.view.Settlement = &stormSettlement{TxID: t1.TxHash().String(), Vout: vout(1)}
	d.view.Settlement = &stormSettlement{TxID: t2.TxHash().String(), Vout: vout(0)}
	e.view.Settlement = &stormSettlement{TxID: strings.Repeat("ab", 32)}
	r := &stormReport{opts: stormOpts{N: 6}, liqs: []*liquidation{a, b, c, d, e, f}, start: t0}
	if err := r.checkPayments(settle, outs, getTx, minedAt); err != nil {
		t.Fatal(err)
	}
	if r.paidOnce != 1 || r.doubleClaimed != 2 || r.paidTwice != 1 || len(r.unpaid) != 5 || r.transactions != 2 {
		t.Fatalf("paid once %d, double-claimed %d, paid twice %d, unpaid %d, transactions %d", r.paidOnce, r.doubleClaimed, r.paidTwice, len(r.unpaid), r.transactions)
	}
	all := strings.Join(r.problems, "\n")
	for _, want := range []string{
		"is claimed by 2 liquidations: acct-b", "acct-c (k-acct-c, request cccccccccccc, 3000 sat): done, settlement " + t1.TxHash().String() + ": output 1 does not pay 3000 sat",
		"acct-d (k-acct-d, request dddddddddddd, 4000 sat): paid 2 times on chain",
		"acct-e (k-acct-e, request eeeeeeeeeeee, 5000 sat): done, settlement " + strings.Repeat("ab", 32) + ": not on the chain",
		"acct-f (k-acct-f, request ffffffffffff, 6000 sat): paid on chain by " + t2.TxHash().String() + ":2, but its view (done) names no such output",
		"pays 777 sat to the settlement address: no liquidation has that amount",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	_, _, _, lost, _ := r.counts()
	fails := strings.Join(r.failures(), "\n")
	if lost != 5 || !strings.Contains(fails, "1 of 6 liquidations paid on chain exactly once") || !strings.Contains(fails, "sum to 17777 sat, the liquidations to 21000") {
		t.Fatalf("lost %d, failures:\n%s", lost, fails)
	}
	// A liquidation the node refused is unpaid but not lost.
	e.view.Status, e.view.Settlement = "rejected", nil
	r = &stormReport{opts: stormOpts{N: 6}, liqs: []*liquidation{a, b, c, d, e, f}, start: t0}
	if err := r.checkPayments(settle, outs, getTx, minedAt); err != nil {
		t.Fatal(err)
	}
	if _, _, _, lost, _ := r.counts(); lost != 4 {
		t.Fatalf("lost %d with e rejected, want 4", lost)
	}
}
