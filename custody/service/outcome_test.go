package service_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
)

// decliningNode is a custodian's node whose every signing attempt ends
// declined, before any partner hears of it.
type decliningNode struct{ *node.Node }

var errDeclined = errors.New("injected: exchange declined")

func (decliningNode) Sign(context.Context, node.SignRequest) (*node.SignResult, error) {
	return nil, errDeclined
}

// The outcome of each attempt goes back into custody.Step, and the service
// executes what it says: every failed attempt is aborted, audited and
// emitted as a failure, retried on the next step, and once the policy's
// attempts are spent the request fails without a signature
// (../shared/SECURITY.md scenario 13: a partner that does not sign costs
// an attempt each time, never more than the policy allows).
func TestFailedAttemptsSpendTheRequest(t *testing.T) {
	c := st.New(t, st.Options{Network: func(p custody.Party, n service.Network) service.Network {
		if nn, ok := n.(*node.Node); ok && p == custody.Custodian {
			return decliningNode{nn}
		}
		return n
	}})
	svc := c.Svc(custody.Custodian)
	v, _, err := svc.Submit(ctx, st.Caller(service.RoleOperator), st.Release("declined", 1000))
	if err != nil {
		t.Fatal(err)
	}
	approveBoth(t, c, v)
	max := c.Members[custody.Custodian].Policy.MaxSigningAttempts
	for i := 1; i <= max; i++ {
		got := c.WaitFor(t, custody.Custodian, v.ID, fmt.Sprintf("attempt %d over", i), func(v service.View) bool {
			return v.Attempts >= i && v.Status != custody.StatusSigning
		})
		if got.Status == custody.StatusFailed {
			break
		}
		c.Tick()
	}
	failed := c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusFailed)
	if failed.Attempts != max || failed.Result != nil || !strings.HasPrefix(failed.Reason, "signing attempts spent: ") ||
		!strings.Contains(failed.Reason, errDeclined.Error()) {
		t.Fatalf("custodian: %s after %d attempts (%q), result %v", failed.Status, failed.Attempts, failed.Reason, failed.Result)
	}
	failures := 0
	for _, e := range svc.Events(0) {
		if e.Type == service.EventFailure && e.RequestID == v.ID {
			failures++
		}
	}
	if failures != max {
		t.Fatalf("%d failure events for %d failed attempts", failures, max)
	}
	if ex, _ := c.Svc(custody.Exchange).Get(v.ID); ex.Attempts != 0 || ex.Result != nil {
		t.Fatalf("exchange joined an attempt it never heard of: %+v", ex)
	}
}
