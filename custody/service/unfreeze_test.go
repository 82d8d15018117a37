package service_test

import (
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/tss/fixtures"
)

// open submits an emergency unfreeze at the custodian and signs its
// opening approval.
func open(t *testing.T, c *st.Cluster, idem string) service.View {
	t.Helper()
	v, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), st.Unfreeze(idem))
	if err != nil {
		t.Fatal(err)
	}
	if v, err = c.Svc(custody.Custodian).Endorse(ctx, c.Approval(custody.Custodian, v, custody.Approve, idem)); err != nil {
		t.Fatal(err)
	}
	return v
}

// approve has party p's operator approve v at p's node, once p has it.
func approve(t *testing.T, c *st.Cluster, p custody.Party, v service.View, nonce string) {
	t.Helper()
	c.WaitFor(t, p, v.ID, "the request", func(service.View) bool { return true })
	if _, err := c.Svc(p).Endorse(ctx, c.Approval(p, v, custody.Approve, nonce)); err != nil {
		t.Fatal(err)
	}
}

func hasApprovals(n int) func(service.View) bool {
	return func(v service.View) bool { return len(v.Approvals) >= n }
}

// A veto during the notice period ends the unfreeze at every node.
func TestUnfreezeVeto(t *testing.T) {
	c := st.New(t, st.Options{})
	v := open(t, c, "veto")
	c.WaitFor(t, custody.Regulator, v.ID, "the opening approval", hasApprovals(1))
	c.Advance(2 * time.Hour)
	if _, err := c.Svc(custody.Regulator).Endorse(ctx, c.Approval(custody.Regulator, v, custody.Veto, "v")); err != nil {
		t.Fatal(err)
	}
	for _, p := range custody.Parties {
		c.WaitStatus(t, p, v.ID, custody.StatusVetoed)
	}
	c.Advance(23 * time.Hour)
	approve(t, c, custody.Exchange, v, "late")
	if got, _ := c.Svc(custody.Exchange).Get(v.ID); got.Status != custody.StatusVetoed || got.Result != nil {
		t.Fatalf("vetoed unfreeze moved: %+v", got)
	}
}

// Custodian and exchange approve; then the exchange's wall clock jumps
// +49h: it neither unfreezes early nor lets the others; the jump is
// reported. When the notice period has passed on
// the honest nodes' own clocks, the custodian signs with the regulator
// (the jumped exchange refuses: by its clock the unfreeze has lapsed).
func TestUnfreezeClockJump(t *testing.T) {
	c := st.New(t, st.Options{})
	v := open(t, c, "jump")
	approve(t, c, custody.Exchange, v, "1")
	c.WaitFor(t, custody.Exchange, v.ID, "two approvals", hasApprovals(2))
	jumps, cancel := c.Svc(custody.Exchange).Subscribe(0)
	defer cancel()
	c.Members[custody.Exchange].Clock.Jump(49 * time.Hour)
	c.Tick()
	waitEvent(t, jumps, service.EventClockJump)
	if r := c.Svc(custody.Exchange).ClockReport(); !r.Jumped {
		t.Fatalf("jump not reported: %v", r)
	}
	cust := c.WaitFor(t, custody.Custodian, v.ID, "two approvals", hasApprovals(2))
	if cust.Status != custody.StatusProposed || !cust.Decision.Has(custody.ReasonTooEarly) {
		t.Fatalf("custodian 0h after opening: %s %v", cust.Status, cust.Decision)
	}
	ex := c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusLapsed)
	if ex.Result != nil {
		t.Fatal("signed early")
	}
	c.Advance(12 * time.Hour)
	if got, _ := c.Svc(custody.Custodian).Get(v.ID); got.Status != custody.StatusProposed || got.Result != nil {
		t.Fatalf("custodian at 12h: %s", got.Status)
	}
	approve(t, c, custody.Regulator, v, "1")
	c.WaitFor(t, custody.Custodian, v.ID, "three approvals", hasApprovals(3))
	c.Advance(13 * time.Hour) // 25h after opening on the honest clocks
	done := c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
	if got := custody.JoinParties(done.Result.Signers); got != "custodian+regulator" {
		t.Fatalf("signed by %s", got)
	}
	c.WaitStatus(t, custody.Regulator, v.ID, custody.StatusDone)
	c.WaitFor(t, custody.Exchange, v.ID, "the result", func(v service.View) bool { return v.Result != nil })
}

// Approved by two parties but never signed in time: it lapses 48h after
// opening everywhere, and nothing is signed.
func TestUnfreezeLapse(t *testing.T) {
	c := st.New(t, st.Options{Policy: func(p custody.Party, pol *custody.Policy) {
		if p == custody.Exchange {
			pol.MaxSigningAttempts = 1 // irrelevant here: nobody tries
		}
	}})
	v := open(t, c, "lapse")
	c.Advance(time.Hour)
	if got, _ := c.Svc(custody.Custodian).Get(v.ID); got.Decision == nil || !got.Decision.Has(custody.ReasonTooEarly) {
		t.Fatalf("1h: %v", got.Decision)
	}
	c.Advance(48 * time.Hour)
	approve(t, c, custody.Exchange, v, "late") // approval after the lapse
	for _, p := range custody.Parties {
		got := c.WaitStatus(t, p, v.ID, custody.StatusLapsed)
		if got.Result != nil {
			t.Fatalf("%s: signed a lapsed unfreeze", p)
		}
	}
}

func waitEvent(t *testing.T, ch <-chan service.Event, typ string) service.Event {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case e := <-ch:
			if e.Type == typ {
				return e
			}
		case <-deadline.C:
			t.Fatalf("no %s event", typ)
		}
	}
}

// The unfreeze drill on a canary key is outside the daily settlement cap:
// with settlements_per_day 0 (no settlement may begin today) it still
// waits the canary notice period, signs, and counts nothing.
func TestUnfreezeDrillOutsideDailyCap(t *testing.T) {
	c := st.New(t, st.Options{Policy: func(_ custody.Party, pol *custody.Policy) {
		pol.Keys = []custody.KeyConfig{{ID: fixtures.KeyID, Role: custody.RoleCanary}}
		pol.CanaryNoticePeriod = time.Minute
		pol.SettlementsPerDay = 0
	}})
	v := open(t, c, "drill-cap")
	approve(t, c, custody.Exchange, v, "1")
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		c.WaitFor(t, p, v.ID, "two approvals", hasApprovals(2))
	}
	c.Advance(30 * time.Second)
	if got, _ := c.Svc(custody.Custodian).Get(v.ID); got.Decision == nil || !got.Decision.Has(custody.ReasonTooEarly) || got.Decision.Has(custody.ReasonDailyCap) {
		t.Fatalf("drill at 30s: %s %v", got.Status, got.Decision)
	}
	c.Advance(time.Minute)
	done := c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
	if done.Attempts != 1 || len(done.Result.Signatures) != 1 {
		t.Fatalf("drill: %d attempts, result %+v", done.Attempts, done.Result)
	}
	c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusDone)
}
