package service_test

import (
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// Sends are not queued: the exchange is down while the custodian opens a
// release and its operator approves. Once the exchange is back, the
// custodian's next tick offers it the request and the signed approval it
// missed; the exchange's operator approves and the release is signed.
func TestRequestReachesPeerThatWasDown(t *testing.T) {
	c := st.New(t, st.Options{})
	c.Stop(custody.Exchange)
	v, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), st.Release("while-down", 1000))
	if err != nil {
		t.Fatal(err)
	}
	approve(t, c, custody.Custodian, v, "1")
	c.WaitFor(t, custody.Regulator, v.ID, "the custodian's approval", hasApprovals(1))
	c.Start(custody.Exchange)
	c.Tick()
	c.WaitFor(t, custody.Exchange, v.ID, "the custodian's approval, relayed", hasApprovals(1))
	approve(t, c, custody.Exchange, v, "1")
	done := c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
	if len(done.Result.Signatures) != 1 {
		t.Fatalf("result %+v", done.Result)
	}
	c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusDone)
}
