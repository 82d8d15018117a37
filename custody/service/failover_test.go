package service_test

import (
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// The custodian opens an emergency unfreeze and approves it, then its node
// goes down for good. The exchange and the regulator approve; once the
// notice period has passed on their own clocks, they sign without it: the
// first approved party (the custodian) is skipped as coordinator because
// nobody can reach it. One signature; the custodian catches up on restart.
// On libp2p the custodian's host is closed and, on restart, listens on a
// new port.
func TestUnfreezeCoordinatorDown(t *testing.T) {
	t.Run("memnet", func(t *testing.T) { unfreezeCoordinatorDown(t, false) })
	t.Run("libp2p", func(t *testing.T) { unfreezeCoordinatorDown(t, true) })
}

func unfreezeCoordinatorDown(t *testing.T, libp2p bool) {
	c := st.New(t, st.Options{SignTimeout: 5 * time.Second, Libp2p: libp2p})
	v := open(t, c, "cust-down")
	for _, p := range []custody.Party{custody.Exchange, custody.Regulator} {
		c.WaitFor(t, p, v.ID, "the opening approval", hasApprovals(1))
	}
	c.Stop(custody.Custodian)
	approve(t, c, custody.Exchange, v, "1")
	approve(t, c, custody.Regulator, v, "1")
	for _, p := range []custody.Party{custody.Exchange, custody.Regulator} {
		c.WaitFor(t, p, v.ID, "three approvals", hasApprovals(3))
	}
	c.Advance(25 * time.Hour)
	done := c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusDone)
	if got := custody.JoinParties(done.Result.Signers); got != "exchange+regulator" || done.Result.Coordinator != "exchange" {
		t.Fatalf("signed by %s, coordinated by %s", got, done.Result.Coordinator)
	}
	if done.Attempts != 1 {
		t.Fatalf("exchange: %d attempts", done.Attempts)
	}
	reg := c.WaitStatus(t, custody.Regulator, v.ID, custody.StatusDone)
	if len(reg.Result.Signatures) != 1 || !sameSig(reg.Result, done.Result) {
		t.Fatalf("regulator has another result: %+v", reg.Result)
	}
	c.Start(custody.Custodian)
	cust := c.WaitFor(t, custody.Custodian, v.ID, "the result", func(v service.View) bool { return v.Result != nil })
	if !sameSig(cust.Result, done.Result) || cust.Attempts != 0 {
		t.Fatalf("custodian after restart: attempts %d result %+v", cust.Attempts, cust.Result)
	}
}

// With the custodian down from the start, the exchange opens an unfreeze
// and the regulator approves it: they sign it between them.
func TestUnfreezeWithoutCustodian(t *testing.T) {
	c := st.New(t, st.Options{SignTimeout: 5 * time.Second})
	c.Stop(custody.Custodian)
	v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleOperator), st.Unfreeze("no-cust"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err = c.Svc(custody.Exchange).Endorse(ctx, c.Approval(custody.Exchange, v, custody.Approve, "open")); err != nil {
		t.Fatal(err)
	}
	approve(t, c, custody.Regulator, v, "1")
	for _, p := range []custody.Party{custody.Exchange, custody.Regulator} {
		c.WaitFor(t, p, v.ID, "two approvals", hasApprovals(2))
	}
	c.Advance(25 * time.Hour)
	done := c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusDone)
	if got := custody.JoinParties(done.Result.Signers); got != "exchange+regulator" {
		t.Fatalf("signed by %s", got)
	}
	c.WaitStatus(t, custody.Regulator, v.ID, custody.StatusDone)
}

func sameSig(a, b *service.Result) bool {
	if a == nil || b == nil || len(a.Signatures) != len(b.Signatures) {
		return false
	}
	for i := range a.Signatures {
		if !a.Signatures[i].Equal(b.Signatures[i]) {
			return false
		}
	}
	return true
}
