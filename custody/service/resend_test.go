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

// A veto recorded while a party's node was down reaches it once it is
// back, though the request has ended at the others: the returning node
// asks about its open requests and the answer carries the endorsements.
func TestVetoReachesPeerThatWasDown(t *testing.T) {
	c := st.New(t, st.Options{})
	v := open(t, c, "veto-while-down")
	c.WaitFor(t, custody.Exchange, v.ID, "the opening approval", hasApprovals(1))
	c.Stop(custody.Exchange)
	c.WaitFor(t, custody.Regulator, v.ID, "the request", func(service.View) bool { return true })
	if _, err := c.Svc(custody.Regulator).Endorse(ctx, c.Approval(custody.Regulator, v, custody.Veto, "v")); err != nil {
		t.Fatal(err)
	}
	c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusVetoed)
	c.Start(custody.Exchange) // asks its peers about its open requests
	c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusVetoed)
}

// The same veto while the exchange's node runs but is cut off: once the
// link heals, the exchange's tick asks about its open request and learns
// of the veto.
func TestVetoReachesPeerThatWasCutOff(t *testing.T) {
	c := st.New(t, st.Options{})
	v := open(t, c, "veto-while-cut-off")
	c.WaitFor(t, custody.Exchange, v.ID, "the opening approval", hasApprovals(1))
	c.Net.Isolate(string(custody.Exchange), true)
	c.WaitFor(t, custody.Regulator, v.ID, "the request", func(service.View) bool { return true })
	if _, err := c.Svc(custody.Regulator).Endorse(ctx, c.Approval(custody.Regulator, v, custody.Veto, "v")); err != nil {
		t.Fatal(err)
	}
	c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusVetoed)
	if got, _ := c.Svc(custody.Exchange).Get(v.ID); got.Status == custody.StatusVetoed {
		t.Fatal("the veto crossed the cut")
	}
	c.Net.Isolate(string(custody.Exchange), false)
	c.Tick()
	c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusVetoed)
}
