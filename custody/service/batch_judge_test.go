package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss/fixtures"
)

// oneCoin pays each liquidation with its own coin, which every lookup
// confirms.
type oneCoin struct{}

func (oneCoin) Pays(req custody.Request) bool { return req.Kind == custody.KindLiquidation }
func (oneCoin) Hold(custody.Request) error    { return nil }
func (oneCoin) Batches(custody.Request) bool  { return true }

func (oneCoin) Plan(_ context.Context, req custody.Request, _ func([]custody.Input) ([]custody.Input, error)) (custody.Request, error) {
	return req.WithInputs([]custody.Input{coinOf(req)}), nil
}

func (oneCoin) Check(context.Context, custody.Request) error { return nil }

// judgments reads svc's count of batch members judged as a partner.
func judgments(t *testing.T, svc *service.Service) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(svc.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "triad_custody_batch_member_judgments_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no batch_member_judgments_total metric")
	return 0
}

// Issue 9 (the storm's drain): a partner judges a batch's members once
// per batch run — its first input's session — and again for a later
// input only when a member's state changed here (../shared/SECURITY.md scenario
// 26: every signer still decides every member itself before it signs
// any input of the batch). On the old code it judged every member for
// every input: 50 × 50 judgments for a storm's batch.
func TestBatchMembersJudgedOncePerRun(t *testing.T) {
	const members = 4
	c := st.New(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		o.Batcher = service.InterimBatcher{}
		o.Coins = oneCoin{}
	}})
	evidence := map[string]time.Time{}
	for i := range members {
		evidence[fmt.Sprintf("judge-%d", i)] = st.Epoch
	}
	ids := submitLiquidations(t, c, evidence)
	ex := c.Svc(custody.Exchange)
	b, reqs, ins := interimBatchOf(t, ex, ids)
	input := func(i int, attempt string) error {
		p := &node.Proposal{KeyID: fixtures.KeyID, RequestID: fmt.Sprintf("batch-%s/%d/%s", b.ID(), i, attempt),
			Participants: []string{"custodian", "exchange"}, Digest: ins[i].Digest[:], ChildPath: ins[i].ChildPath, Payload: b.Canonical()}
		return ex.AuthorizeSign(ctx, fixtures.KeyID, p)
	}
	before := judgments(t, ex)
	for i := range members {
		if err := input(i, "run1"); err != nil {
			t.Fatalf("input %d of a batch it approved: %v", i, err)
		}
	}
	if got := judgments(t, ex) - before; got != members {
		t.Errorf("%d judgments for the %d inputs of one batch run, want %d (each member once)", int(got), members, members)
	}
	// A member's state changes here (its attempt aborted): the next
	// input's session judges the members again.
	if _, err := ex.Store().Apply(reqs[1].ID(), custody.Event{Type: custody.EvAbort, At: st.Epoch, Reason: "test"}, 0); err != nil {
		t.Fatal(err)
	}
	before = judgments(t, ex)
	if err := input(0, "run1-2"); err != nil {
		t.Fatalf("input 0 again after a member changed: %v", err)
	}
	if got := judgments(t, ex) - before; got != members {
		t.Errorf("%d judgments after a member's state changed, want %d", int(got), members)
	}
}
