package custody_test

import (
	"reflect"
	"testing"

	"github.com/triad-custody/triad/custody"
)

// Step is pure: the same state, observations and clock give the same
// Output, and the caller's state is left as it was (the abort it asks for is
// the service's to persist). ../shared/SECURITY.md scenario 12: an attempt
// this node joined that is over never resumes; ../shared/SECURITY.md scenario 11: exactly one
// transaction, so a request that reached signed is never signed again.
func TestStepIsPure(t *testing.T) {
	h := newHarness(t)
	h.run("propose", []string{"r1", "release"}, map[string]string{})
	h.run("approve", []string{"r1", "custodian"}, map[string]string{})
	h.run("approve", []string{"r1", "exchange"}, map[string]string{})
	n := h.nodes[custody.Exchange]
	for _, ev := range []custody.EventType{custody.EvApprove, custody.EvBegin} {
		if err := h.apply(n, "r1", ev, ""); err != nil {
			t.Fatal(err)
		}
	}
	s := custody.StepState{Request: h.reqs["r1"], State: h.state(n, "r1")}
	before := s.State.Record
	in := connected(custody.Exchange)
	in.JoinedOver = true
	a := custody.Step(n.policy, s, in, n.clock.Now())
	b := custody.Step(n.policy, s, in, n.clock.Now())
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two steps on one input differ:\n%v\n%v", a.Effects, b.Effects)
	}
	if s.State.Record != before {
		t.Fatalf("Step changed the caller's record: %+v, was %+v", s.State.Record, before)
	}
	if len(a.Effects) == 0 || a.Effects[0].Kind != custody.EffectPersist || a.Effects[0].Event != custody.EvAbort {
		t.Fatalf("a joined attempt that is over: want an abort first, got %v", a.Effects)
	}

	s.State.Record.Status = custody.StatusSigned
	in.JoinedOver, in.PeerFinalizes = false, false
	in.Peers[custody.Custodian] = custody.PeerReport{Status: custody.StatusDone}
	if out := custody.Step(n.policy, s, in, n.clock.Now()); len(out.Effects) != 0 {
		t.Fatalf("a signed request with a chain node of its own: want nothing to do, got %v", out.Effects)
	}
}
