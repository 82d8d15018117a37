package service_test

import (
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// advanceClocks lets d pass on every node's clock without ticking any.
func advanceClocks(c *st.Cluster, d time.Duration) {
	for _, m := range c.Members {
		m.Clock.Advance(d)
	}
}

// The unlucky order: after the notice period the custodian ticks first and
// begins signing before the exchange's own tick has witnessed the time.
// The exchange counts the time its clock has served when the proposal
// arrives, and joins: one attempt, no "too_early … witnessed 0s".
func TestUnfreezePartnerTicksLate(t *testing.T) {
	c := st.New(t, st.Options{}) // the default sign_timeout: a loaded machine must not fail the one attempt
	v := open(t, c, "late-tick")
	approve(t, c, custody.Exchange, v, "1")
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		c.WaitFor(t, p, v.ID, "two approvals", hasApprovals(2))
	}
	c.Advance(time.Hour) // every node has witnessed 1h and says too_early
	advanceClocks(c, 24*time.Hour)
	c.Svc(custody.Custodian).Tick(ctx) // only the custodian's tick
	done := c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
	if done.Attempts != 1 || done.Result.Coordinator != "custodian" || done.Result.Signers[1] != "exchange" {
		t.Fatalf("attempts %d, coordinator %s, signers %v", done.Attempts, done.Result.Coordinator, done.Result.Signers)
	}
	ex := c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusDone)
	if ex.Timeline.Witnessed < 25*time.Hour {
		t.Fatalf("exchange witnessed %s", ex.Timeline.Witnessed)
	}
}

// The exchange was down for 13h of the notice period: by its own clock the
// notice period is not over when the custodian's is. The custodian does
// not spend attempts on a partner that said "too early" (three failed
// attempts would fail the request); it signs once the exchange's time has
// come. The regulator (which has not approved) is cut off meanwhile, so
// the custodian hears only from the exchange.
func TestUnfreezePartnerBehind(t *testing.T) {
	c := st.New(t, st.Options{}) // the default sign_timeout: a loaded machine must not fail the one attempt
	v := open(t, c, "behind")
	approve(t, c, custody.Exchange, v, "1")
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		c.WaitFor(t, p, v.ID, "two approvals", hasApprovals(2))
	}
	c.Net.Isolate(string(custody.Regulator), true)
	c.Advance(12 * time.Hour)
	c.Stop(custody.Exchange)       // unreachable: nothing begins while it is down
	advanceClocks(c, 13*time.Hour) // the custodian's notice period is over
	c.Start(custody.Exchange)      // it has witnessed 12h: down time never counts
	behind := func(v service.View) bool {
		ps, ok := v.Peers[custody.Exchange]
		return ok && ps.Decision != nil && ps.Decision.Has(custody.ReasonTooEarly) && ps.Decision.RetryAt.After(v.Request.CreatedAt.Add(30*time.Hour))
	}
	c.WaitFor(t, custody.Custodian, v.ID, "the exchange's too_early", behind)
	c.Tick()
	got, _ := c.Svc(custody.Custodian).Get(v.ID)
	if !got.Decision.Ready || got.Attempts != 0 || got.Status != custody.StatusApproved && got.Status != custody.StatusProposed {
		t.Fatalf("custodian at 25h: %s, %d attempts (%s), %v", got.Status, got.Attempts, got.Reason, got.Decision)
	}
	c.Net.Isolate(string(custody.Regulator), false)
	c.Advance(12 * time.Hour) // 37h wall, 24h witnessed at the exchange
	done := c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
	if done.Attempts != 1 {
		t.Fatalf("%d attempts", done.Attempts)
	}
	c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusDone)
}
