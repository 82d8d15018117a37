package settle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm/gethtest"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss/fixtures"
)

// proposeEVM hands partner p the custodian's proposal to sign request v
// with plan planned, as node.Sign would, and returns p's answer.
func proposeEVM(ctx context.Context, t *testing.T, w *evmWorld, c *st.Cluster, p custody.Party, planned custody.Request, coordinator custody.Party) error {
	t.Helper()
	_, plan, err := w.honest(t).PlanOf(planned)
	if err != nil {
		t.Fatal(err)
	}
	d := plan.Digest()
	return c.Svc(p).AuthorizeSign(ctx, fixtures.KeyID, &node.Proposal{KeyID: fixtures.KeyID,
		RequestID:    custody.SessionName{Request: planned.ID(), Input: 0, Attempt: "a1"}.String(),
		Participants: []string{string(coordinator), string(p)}, Digest: d[:], ChildPath: planned.ChildPath,
		Payload: planned.Canonical()})
}

// ../shared/SECURITY.md scenarios 8 and 26 (issue 12): a partner checks an EVM plan
// on its own geth before it decides, but holds the plan's nonce only once
// custody.DecideJoin says join. Here its operator has not approved the
// release, so the decision waits (and then gives up): the partner must
// hold no nonce for a request it did not agree to sign, or a request left
// unapproved would block the account's nonce at this node.
func TestServiceEVMNoNonceBeforeDecision(t *testing.T) {
	w := newEVMWorld(t)
	c := evmCluster(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), tusdRelease(w, "tusd-unapproved", 1_000_000))
	if err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, custody.Exchange, v.ID, "stored", func(service.View) bool { return true })
	planned, err := w.honest(t).PlanCustody(ctx, v.Request)
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = proposeEVM(actx, t, w, c, custody.Exchange, planned, custody.Custodian)
	acancel()
	if !errors.Is(err, service.ErrNotReady) {
		t.Fatalf("unapproved at the exchange: %v, want %v", err, service.ErrNotReady)
	}
	if n, held, err := c.Svc(custody.Exchange).Store().NonceHeldBy(gethtest.ChainID, w.acct.Address, v.ID); err != nil || held {
		t.Fatalf("the exchange holds nonce %d for a request it did not join (%v)", n, err)
	}
	if id, held, _ := c.Svc(custody.Exchange).Store().NonceHolder(gethtest.ChainID, w.acct.Address, planned.EVM.Nonce); held {
		t.Fatalf("nonce %d is held at the exchange by %.12s", planned.EVM.Nonce, id)
	}
}
