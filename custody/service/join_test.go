package service_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss/fixtures"
)

// approvedAtExchange is a release both operators approved, whose
// coordinator (the custodian) is signing it while its proposals never
// reach the exchange: the exchange holds it approved, not yet joined.
// It returns the release and a proposal of its digest 0 from the
// custodian, as the exchange would receive it.
func approvedAtExchange(t *testing.T, c *st.Cluster, idem string) (service.View, *node.Proposal) {
	t.Helper()
	c.Net.Intercept(func(from, to string, f []byte) [][]byte {
		if from == "custodian" && to == "exchange" && bytes.Contains(f, []byte(`"kind":"propose"`)) {
			return nil
		}
		return [][]byte{f}
	})
	v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleOperator), st.Release(idem, 5000))
	if err != nil {
		t.Fatal(err)
	}
	approve(t, c, custody.Exchange, v, "1")
	c.WaitFor(t, custody.Custodian, v.ID, "exchange approval", hasApprovals(1))
	approve(t, c, custody.Custodian, v, "1")
	c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusSigning)
	c.WaitFor(t, custody.Exchange, v.ID, "both approvals", hasApprovals(2))
	d, err := service.DefaultDigester(v.Request)
	if err != nil {
		t.Fatal(err)
	}
	return v, &node.Proposal{KeyID: fixtures.KeyID, RequestID: v.ID + "/0/n1", Participants: []string{"custodian", "exchange"},
		Digest: d[0][:], ChildPath: st.ChildPath, Payload: v.Request.Canonical()}
}

// ../shared/SECURITY.md scenarios 11 and 27 (../shared/SECURITY.md): a session name without an
// attempt ("<id>/0/") is not a session of this node's own attempt. Before
// the one decision, an empty attempt equalled "no attempt of my own" and
// the partner joined as if it had proposed itself: past the one-live-
// session guard (one transaction per request), with no coins locked to
// the request and no state change. A name that is not canonical is
// refused too.
func TestJoinRefusesSessionWithoutAttempt(t *testing.T) {
	c := st.New(t, st.Options{SignTimeout: time.Minute})
	v, p := approvedAtExchange(t, c, "no-attempt")
	for _, rid := range []string{v.ID + "/0/", v.ID + "/00/n1", v.ID + "/+0/n1"} {
		p.RequestID = rid
		if err := c.Svc(custody.Exchange).AuthorizeSign(ctx, fixtures.KeyID, p); !errors.Is(err, service.ErrRefused) {
			t.Fatalf("session %q: %v", rid, err)
		}
	}
	if got, _ := c.Svc(custody.Exchange).Get(v.ID); got.Status != custody.StatusApproved {
		t.Fatalf("exchange moved to %s", got.Status)
	}
}

// ../shared/SECURITY.md scenario 13: a session the partner joined lives
// one sign timeout by the node's injected clock, not the machine's. Once
// that clock has moved past it, the partner's tick ends the attempt it
// joined, so the request can be signed again; while the clock stands
// still, it stays joined. (The live window was measured with time.Now()
// before.)
func TestJoinedSessionEndsByInjectedClock(t *testing.T) {
	c := st.New(t, st.Options{SignTimeout: time.Minute})
	v, p := approvedAtExchange(t, c, "joined-clock")
	if err := c.Svc(custody.Exchange).AuthorizeSign(ctx, fixtures.KeyID, p); err != nil {
		t.Fatalf("joining the custodian's attempt: %v", err)
	}
	c.Tick()
	if got, _ := c.Svc(custody.Exchange).Get(v.ID); got.Status != custody.StatusSigning {
		t.Fatalf("with the clock still, the joined attempt ended: %s %q", got.Status, got.Reason)
	}
	c.Members[custody.Exchange].Clock.Advance(time.Minute + time.Second)
	c.Tick()
	got := c.WaitFor(t, custody.Exchange, v.ID, "the joined attempt's end", func(v service.View) bool {
		return v.Status == custody.StatusApproved
	})
	if !strings.Contains(got.Reason, "joined is over") {
		t.Fatalf("reason %q", got.Reason)
	}
}
