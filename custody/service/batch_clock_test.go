package service_test

import (
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// Issue 11 (one clock): the members of a batch that failed after the
// partner joined it are held out of the next batch until the partner's
// sessions of it lapse, a sign_timeout on this node's injected clock,
// and the first tick after that cuts them again (../shared/SECURITY.md scenario
// 11: a failed attempt is retried; ../shared/SECURITY.md scenario 28: timing rules follow the
// node's own clock). On the old code they were held on the wall clock and
// cut by a wall-clock timer: with a two-minute sign_timeout the injected
// clock's advance released nothing, and the wait below ran out.
func TestBatchHeldMembersFollowTheInjectedClock(t *testing.T) {
	var bad string
	sg := &st.Signer{Fault: func(b st.BatchSession) error {
		if b.Batch.Members[b.Input].RequestID == bad { // one input per member (InterimBatcher)
			return errInjected
		}
		return nil
	}}
	const signTimeout = 2 * time.Minute
	c := faultyBatchCluster(t, sg, st.Options{SignTimeout: signTimeout})
	ids := submitLiquidations(t, c, map[string]time.Time{"k-1": st.Epoch, "k-bad": st.Epoch, "k-3": st.Epoch})
	bad = ids["k-bad"]
	window := c.Svc(custody.Custodian).Policy().BatchWindow()
	c.Advance(window)
	c.WaitStatus(t, custody.Custodian, bad, custody.StatusFailed)
	var others []string
	for idem, id := range ids {
		if idem != "k-bad" {
			c.WaitFor(t, custody.Custodian, id, "back in the queue", func(v service.View) bool {
				return v.Status == custody.StatusApproved && v.Attempts == 1
			})
			others = append(others, id)
		}
	}
	c.Advance(signTimeout - time.Second) // still held: the partner's sessions are live
	for _, id := range others {
		if v, _ := c.Svc(custody.Custodian).Get(id); v.Status != custody.StatusApproved || v.Attempts != 1 {
			t.Fatalf("%.12s cut again before the partner's sessions lapsed: %s, %d attempts", id, v.Status, v.Attempts)
		}
	}
	c.Advance(time.Second + window) // lapsed on the injected clocks: this tick cuts them
	paidOnce(t, c, sg, others, 2)
}
