package service_test

import (
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// batchCluster is servicetest's cluster paying liquidations in batches
// with the interim batcher (one digest per member).
func batchCluster(t *testing.T) *st.Cluster {
	return st.New(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		o.Batcher = service.InterimBatcher{}
		o.AuthorizeWait = 300 * time.Millisecond
	}})
}

func submitLiquidations(t *testing.T, c *st.Cluster, evidence map[string]time.Time) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for idem, at := range evidence {
		v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), st.Liquidation(idem, 100_000, st.MarginKey(), at))
		if err != nil {
			t.Fatal(err)
		}
		ids[idem] = v.ID
	}
	for _, id := range ids {
		for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
			c.WaitStatus(t, p, id, custody.StatusApproved)
		}
	}
	return ids
}

func capCount(t *testing.T, c *st.Cluster, p custody.Party, class string) int {
	t.Helper()
	n, err := c.Svc(p).Store().Settlements(custody.CapKey(custody.DayKey(c.Members[p].Clock.Now()), class))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Issue 9 item 3: approved liquidations wait for the batch window at the
// coordinator, then are signed as one batch: every member's result names
// the same batch, and the batch is counted once against
// liquidation_batches_per_day (and never against settlements_per_day) at
// each signer.
func TestLiquidationsPaidInOneBatch(t *testing.T) {
	c := batchCluster(t)
	ids := submitLiquidations(t, c, map[string]time.Time{"b-1": st.Epoch, "b-2": st.Epoch, "b-3": st.Epoch})
	c.Tick() // queued, the window not yet over: nothing begins
	for _, id := range ids {
		if v, _ := c.Svc(custody.Custodian).Get(id); v.Status != custody.StatusApproved || v.Attempts != 0 {
			t.Fatalf("begun before the window: %s %d", v.Status, v.Attempts)
		}
	}
	c.Advance(c.Svc(custody.Custodian).Policy().BatchWindow())
	var batch string
	for _, id := range ids {
		for _, p := range custody.Parties {
			v := c.WaitStatus(t, p, id, custody.StatusDone)
			if v.Result == nil || v.Result.Batch == nil || len(v.Result.Signatures) != len(ids) {
				t.Fatalf("%s: result %+v", p, v.Result)
			}
			if batch == "" {
				batch = v.Result.Batch.ID
			}
			if v.Result.Batch.ID != batch {
				t.Fatalf("%s: two batches %s and %s", p, batch, v.Result.Batch.ID)
			}
		}
	}
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		if n := capCount(t, c, p, custody.CapLiquidation); n != 1 {
			t.Fatalf("%s counted %d liquidation batches, want 1", p, n)
		}
		if n := capCount(t, c, p, ""); n != 0 {
			t.Fatalf("%s counted %d settlements for a liquidation batch", p, n)
		}
	}
}

// Issue 9 item 3, "a batch where one liquidation is refused by one
// signer" (SECURITY.md scenario 27): the exchange's own clock finds one
// member's margin-call evidence stale. It refuses the batch naming that
// member and why; the coordinator cuts the next batch without it, and the
// others are paid. The refused one is not paid and its view says why.
func TestBatchMemberRefusedByOneSigner(t *testing.T) {
	c := batchCluster(t)
	ids := submitLiquidations(t, c, map[string]time.Time{
		"ok-1": st.Epoch, "ok-2": st.Epoch, "stale": st.Epoch.Add(-10 * time.Minute)})
	// At the exchange, evidence_max_age (15m) has passed for "stale" only.
	c.Members[custody.Exchange].Clock.Advance(6 * time.Minute)
	coord := c.Members[custody.Custodian]
	window := coord.Svc.Policy().BatchWindow()
	coord.Clock.Advance(window)
	coord.Svc.Tick(ctx)
	c.WaitFor(t, custody.Custodian, ids["stale"], "refused by the exchange", func(v service.View) bool {
		return strings.Contains(v.Waiting, "refused by exchange") && strings.Contains(v.Waiting, custody.ReasonEvidenceStale)
	})
	for _, idem := range []string{"ok-1", "ok-2"} {
		c.WaitFor(t, custody.Custodian, ids[idem], "aborted, not refused", func(v service.View) bool {
			return v.Status == custody.StatusApproved && v.Attempts == 1 && !strings.Contains(v.Waiting, "refused")
		})
	}
	// The next window: queued again, then a batch without the refused one.
	for range 2 {
		coord.Clock.Advance(window)
		coord.Svc.Tick(ctx)
	}
	var batch string
	for _, idem := range []string{"ok-1", "ok-2"} {
		v := c.WaitStatus(t, custody.Custodian, ids[idem], custody.StatusDone)
		if batch == "" {
			batch = v.Result.Batch.ID
		}
		if v.Result.Batch.ID != batch || len(v.Result.Signatures) != 2 {
			t.Fatalf("%s: %+v", idem, v.Result)
		}
		c.WaitStatus(t, custody.Exchange, ids[idem], custody.StatusDone)
	}
	v, _ := c.Svc(custody.Custodian).Get(ids["stale"])
	if v.Status == custody.StatusDone || v.Status == custody.StatusSigned || v.Result != nil {
		t.Fatalf("the refused liquidation was paid: %s %+v", v.Status, v.Result)
	}
	// It waits, or (here) fails at once: the exchange's refusal is final
	// and a liquidation needs the exchange.
	if !strings.Contains(v.Waiting+v.Reason, custody.ReasonEvidenceStale) {
		t.Fatalf("the refused liquidation does not say why: %q (%s %q)", v.Waiting, v.Status, v.Reason)
	}
	ex := c.WaitStatus(t, custody.Exchange, ids["stale"], custody.StatusRejected)
	if !strings.Contains(ex.Reason, custody.ReasonEvidenceStale) {
		t.Fatalf("exchange's reason %q", ex.Reason)
	}
	// The exchange joined one batch; the coordinator began two.
	if n := capCount(t, c, custody.Exchange, custody.CapLiquidation); n != 1 {
		t.Fatalf("exchange counted %d batches", n)
	}
	if n := capCount(t, c, custody.Custodian, custody.CapLiquidation); n != 2 {
		t.Fatalf("custodian counted %d batches", n)
	}
}
