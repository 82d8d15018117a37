package service_test

import (
	"strings"
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
	c := st.New(t, st.Options{SignTimeout: 5 * time.Second})
	v := open(t, c, "late-tick")
	approve(t, c, custody.Exchange, v, "1")
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		c.WaitFor(t, p, v.ID, "two approvals", hasApprovals(2))
	}
	c.Advance(time.Hour) // every node has witnessed 1h and said too_early
	c.WaitFor(t, custody.Custodian, v.ID, "the exchange's 1h report", func(v service.View) bool {
		ps := v.Peers[custody.Exchange]
		return ps.Decision != nil && strings.Contains(ps.Decision.String(), "wall 1h0m0s, witnessed 1h0m0s")
	})
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
// not spend attempts on a partner that said "too early"; it signs once the
// exchange's time has come.
func TestUnfreezePartnerBehind(t *testing.T) {
	c := st.New(t, st.Options{SignTimeout: 5 * time.Second})
	v := open(t, c, "behind")
	approve(t, c, custody.Exchange, v, "1")
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		c.WaitFor(t, p, v.ID, "two approvals", hasApprovals(2))
	}
	c.Advance(12 * time.Hour)
	c.Stop(custody.Exchange)
	advanceClocks(c, 13*time.Hour)
	c.Start(custody.Exchange) // it has witnessed 12h: down time never counts
	behind := func(v service.View) bool {
		ps, ok := v.Peers[custody.Exchange]
		return ok && ps.Decision != nil && ps.Decision.Has(custody.ReasonTooEarly) && ps.Decision.RetryAt.After(v.Request.CreatedAt.Add(30*time.Hour))
	}
	c.WaitFor(t, custody.Custodian, v.ID, "the exchange's too_early", behind)
	c.Tick() // the custodian's notice period is over
	if got, _ := c.Svc(custody.Custodian).Get(v.ID); !got.Decision.Ready {
		t.Fatalf("custodian at 25h: %v", got.Decision)
	}
	if got, _ := c.Svc(custody.Custodian).Get(v.ID); got.Attempts != 0 || got.Status != custody.StatusApproved && got.Status != custody.StatusProposed {
		t.Fatalf("custodian began while its partner was behind: %s, %d attempts (%s)", got.Status, got.Attempts, got.Reason)
	}
	c.Advance(12 * time.Hour) // 37h wall, 24h witnessed at the exchange
	done := c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
	if done.Attempts != 1 {
		t.Fatalf("%d attempts", done.Attempts)
	}
	c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusDone)
}
