package reshare

import (
	"errors"
	"testing"
	"time"
)

// approvalNode is the little of a node that checking approvals reads: its
// party set and clock (any other method of Node panics).
type approvalNode struct {
	Node
	now time.Time
}

func (n approvalNode) Parties() []string { return []string{"custodian", "exchange", "regulator"} }
func (n approvalNode) Now() time.Time    { return n.now }

// An order needs operators of two distinct parties, signing this spec,
// before it expires; a forged party is no party.
func TestReshareApprovals(t *testing.T) {
	ops := newOperators(t)
	e := New(approvalNode{now: time.Now()})
	e.st = &state{opt: Options{Operators: ops.lookup}}
	spec := testSpec("approvals-1", "regulator", "")
	cases := map[string]Order{
		"one party":  ops.order(spec, "custodian"),
		"same party": {Spec: spec, Approvals: append(ops.order(spec, "custodian").Approvals, ops.order(spec, "custodian").Approvals...)},
	}
	other := spec
	other.Replace = "exchange"
	cases["signed for another spec"] = Order{Spec: spec, Approvals: ops.order(other, "custodian", "exchange").Approvals}
	expired := spec
	expired.Expires = time.Now().Add(-time.Minute)
	cases["expired"] = ops.order(expired, "custodian", "exchange")
	forged := ops.order(spec, "custodian", "exchange")
	forged.Approvals[1].Operator = "op-custodian"
	forged.Approvals[1].Party = "custodian"
	cases["forged party"] = forged
	for name, o := range cases {
		if err := e.VerifyApprovals(o); !errors.Is(err, ErrApproval) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if err := e.VerifyApprovals(ops.order(spec, "exchange", "regulator")); err != nil {
		t.Fatalf("valid approvals: %v", err)
	}
	if err := New(approvalNode{now: time.Now()}).VerifyApprovals(ops.order(spec, "exchange", "regulator")); !errors.Is(err, ErrRecoveryOff) {
		t.Fatalf("resharing not enabled: %v", err)
	}
}
