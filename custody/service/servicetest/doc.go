// Package servicetest runs three Triad nodes in one process for tests of
// the custody flow: each with its own fake clock, policy, bbolt store,
// sealed fixture key share (tss/fixtures, key "fixture") and custody
// service, on node/memnet (or, with Options.Libp2p, on real libp2p
// hosts on loopback). Clocks never tick by themselves: a test
// moves them (Advance, Jump) and calls Tick; waits follow events, with one
// deadline each.
//
//	c := servicetest.New(t, servicetest.Options{})
//	v, _, err := c.Svc(custody.Exchange).Submit(ctx, caller, c.Release("r1", 1000))
//	c.Approve(t, custody.Custodian, v.ID, custody.Approve)
//	c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
package servicetest
