package settle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// memberOf is the member of batch b whose coin is input i.
func memberOf(b service.Batch, i int) string {
	for _, m := range b.Members {
		if i < len(m.Inputs) {
			return m.RequestID
		}
		i -= len(m.Inputs)
	}
	return ""
}

// The liquidation storm's causes 1 and 3 on regtest (issue 9; ../shared/SECURITY.md
// ../shared/SECURITY.md scenario 27: a request is done only when its own output is on chain):
// the coordinator's first session of one liquidation's coin fails once,
// and no session of another liquidation's coin can ever be signed. The
// first is tried again within its batch; the second fails alone, its
// coins released (and left unspent on btcd); the other two are paid by
// one transaction without it, checked on btcd.
func TestLiquidationBatchRetryRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd and runs threshold signatures")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := withHouse(newWorld(t))
	chain := regtest(ctx, t, w.pool)
	var ids map[string]string
	sg := &st.Signer{Fault: func(b st.BatchSession) error {
		if ids == nil {
			return nil
		}
		switch memberOf(b.Batch, b.Input) {
		case ids["x-bad"]:
			return errors.New("injected: this coin's session never completes")
		case ids["x-retry"]:
			if b.Try == 0 {
				return errors.New("injected: the partner's session timed out once")
			}
		}
		return nil
	}}
	c, _ := settledClusterWith(t, w, chain.Client, batched(300*time.Millisecond), func(o *st.Options) {
		o.Network = sg.Wrap(custody.Custodian)
		o.SignTimeout = 15 * time.Second // the others wait a sign_timeout (advanced below) for the partner's sessions to lapse
	})
	amounts := map[string]uint64{"x-ok": 4 * btcutil.SatoshiPerBitcoin, "x-retry": 2 * btcutil.SatoshiPerBitcoin, "x-bad": 1 * btcutil.SatoshiPerBitcoin}
	submitted := map[string]string{}
	for idem, amount := range amounts {
		v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), accountCall(w, "house", idem, amount))
		if err != nil {
			t.Fatal(err)
		}
		submitted[idem] = v.ID
	}
	ids = submitted // read by the fault from here on (no session before the window)
	var badCoins []custody.Input
	for idem, id := range ids {
		v := c.WaitFor(t, custody.Custodian, id, "approved and its coins reserved", func(v service.View) bool {
			return v.Status == custody.StatusApproved && len(v.Request.Inputs) > 0
		})
		if idem == "x-bad" {
			badCoins = v.Request.Inputs
		}
	}
	c.Advance(c.Svc(custody.Custodian).Policy().BatchWindow())

	bad := c.WaitFor(t, custody.Custodian, ids["x-bad"], "failed", func(v service.View) bool { return v.Status.Terminal() })
	if bad.Status != custody.StatusFailed || !strings.Contains(bad.Reason, "could not be signed") {
		t.Fatalf("the unsignable liquidation: %s %q", bad.Status, bad.Reason)
	}
	if _, ok, err := c.Svc(custody.Custodian).Store().PlanOf(ids["x-bad"]); err != nil || ok {
		t.Fatalf("the failed liquidation still holds its coins (%v)", err)
	}
	// The exchange's sessions of the failed batch lapse (a sign_timeout, by
	// the injected clocks) before the others' next batch.
	c.Advance(15*time.Second + c.Svc(custody.Custodian).Policy().BatchWindow())
	txid := paidInOneBatch(ctx, t, c, chain, w.lender, ids, amounts, "x-ok", "x-retry")
	h, _ := chainhash.NewHashFromStr(txid)
	tx, err := chain.Client.RawTransaction(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	made := sg.Made()
	for _, coin := range badCoins {
		ch, _ := chainhash.NewHashFromStr(coin.TxID)
		if _, err := chain.Client.TxOut(ctx, wire.OutPoint{Hash: *ch, Index: coin.Vout}); err != nil {
			t.Fatalf("the failed liquidation's coin %s:%d: %v", coin.TxID, coin.Vout, err)
		}
	}
	v, _ := c.Svc(custody.Custodian).Get(ids["x-retry"])
	for _, sig := range v.Result.Signatures {
		if made[sig.Digest] != 1 {
			t.Fatalf("an input of the paid batch was signed %d times", made[sig.Digest])
		}
	}
	if len(v.Result.Signatures) != len(tx.TxIn) {
		t.Fatalf("%d signatures for %d inputs", len(v.Result.Signatures), len(tx.TxIn))
	}
}
