package settle_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/btc/btcdtest"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// marginCall is a liquidation of client 7 with evidence of its own.
func marginCall(w world, idem string, amount uint64) custody.Request {
	liq := liquidation(w, amount, 3)
	ev := custody.SignMarginCall(custody.MarginCall{Account: "client-7", Asset: "BTC", Shortfall: amount,
		Collateral: []custody.Holding{{Asset: "BTC", Value: 6_000_000}}, Exposure: 5_000_000, Price: 10_000,
		Time: st.Epoch.Add(-time.Minute), Nonce: "mc-" + idem}, st.MarginKey())
	liq.Evidence, liq.IdempotencyKey, liq.Requester, liq.CreatedAt = &ev, idem, custody.Requester{}, time.Time{}
	return liq
}

// paysOnChain checks on btcd, not in any status, that txid is confirmed
// and pays amount to address, and returns its output index.
func paysOnChain(ctx context.Context, t *testing.T, chain *btcdtest.Node, txid, address string, amount int64) int {
	t.Helper()
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := chain.Client.Confirmations(ctx, h); err != nil || n < 1 {
		t.Fatalf("transaction %s: %d confirmations, %v", txid, n, err)
	}
	script, err := btc.DecodeAddress(address, network)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := chain.Client.RawTransaction(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	for i, out := range tx.TxOut {
		if string(out.PkScript) == string(script) && out.Value == amount {
			return i
		}
	}
	t.Fatalf("transaction %s pays no %d sat to %s", txid, amount, address)
	return -1
}

// ../shared/SECURITY.md scenario 27 (issue 9 item 2): two liquidations of one account that holds
// a single coin, sent at once. The coordinator reserves the coin for one;
// the other waits, saying why, and spends no attempt, until the first
// transaction's change is confirmed; then it pays with that. Two
// transactions on chain, each paying its own liquidation: neither request
// is marked done on the other's transaction.
func TestTwoRequestsOneCoinRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd and runs threshold signatures")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newWorld(t)
	chain := regtest(ctx, t, w.pool)
	c, settlers := settledCluster(t, w, chain.Client)

	// Client 7's account gets exactly one coin: a 60 BTC release.
	rel := submitApprovedRelease(ctx, t, c, nil, release(w, 60*btcutil.SatoshiPerBitcoin, 4), "one-coin")
	confirmPaid(ctx, t, c, chain, settlers, rel.ID, custody.Custodian)
	if coins, err := chain.Client.ListUnspent(ctx, w.client, 1); err != nil || len(coins) != 1 {
		t.Fatalf("client 7 holds %d coins (%v)", len(coins), err)
	}

	amounts := map[string]uint64{"storm-a": 20 * btcutil.SatoshiPerBitcoin, "storm-b": 15 * btcutil.SatoshiPerBitcoin}
	ids := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for idem, amount := range amounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), marginCall(w, idem, amount))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			ids[idem] = v.ID
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// One is paid with the coin; the other waits for one at the coordinator.
	var first, second string
	c.WaitFor(t, custody.Custodian, ids["storm-a"], "one liquidation signed, the other waiting for coins", func(service.View) bool {
		a, _ := c.Svc(custody.Custodian).Get(ids["storm-a"])
		b, _ := c.Svc(custody.Custodian).Get(ids["storm-b"])
		switch {
		case a.Settlement != nil && a.Settlement.Broadcast && strings.Contains(b.Waiting, "no free coin"):
			first, second = "storm-a", "storm-b"
		case b.Settlement != nil && b.Settlement.Broadcast && strings.Contains(a.Waiting, "no free coin"):
			first, second = "storm-b", "storm-a"
		}
		return first != ""
	})
	if v, _ := c.Svc(custody.Custodian).Get(ids[second]); v.Attempts != 0 || v.Result != nil {
		t.Fatalf("the waiting liquidation spent attempts: %+v", v)
	}
	// The first confirms, and with it its change: the second goes on.
	confirmPaid(ctx, t, c, chain, settlers, ids[first], custody.Custodian, custody.Exchange)
	c.Tick()
	confirmPaid(ctx, t, c, chain, settlers, ids[second], custody.Custodian, custody.Exchange)

	// On chain: two transactions, each paying its own liquidation.
	seen := map[string]bool{}
	for _, idem := range []string{first, second} {
		v, err := c.Svc(custody.Custodian).Get(ids[idem])
		if err != nil || v.Result == nil || len(v.Result.Inputs) == 0 {
			t.Fatalf("%s: %+v %v", idem, v.Result, err)
		}
		p, err := settlers[custody.Regulator].Plan(ctx, v.Request)
		if err != nil {
			t.Fatal(err)
		}
		txid := p.TxID().String()
		if seen[txid] {
			t.Fatalf("two liquidations on one transaction %s", txid)
		}
		seen[txid] = true
		paysOnChain(ctx, t, chain, txid, w.lender, int64(amounts[idem]))
	}
	if b := balanceOf(ctx, t, chain, w.lender); b != int64(amounts["storm-a"]+amounts["storm-b"]) {
		t.Fatalf("lender holds %d sat, the liquidations were %v", b, amounts)
	}
	t.Logf("two liquidations on one coin: transactions %v", seen)
}
