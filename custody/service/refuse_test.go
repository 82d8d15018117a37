package service_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/custody/store"
)

// lenientExchange is an exchange whose node would accept a rogue margin
// key and week-old evidence: the custodian must refuse on its own.
func lenientExchange(p custody.Party, pol *custody.Policy) {
	if p == custody.Exchange {
		pol.MarginEngineKeys = append(pol.MarginEngineKeys, st.SignKeyHex(st.RogueKey()))
		pol.EvidenceMaxAge = 7 * 24 * time.Hour
	}
}

func TestCustodianRefusesBadEvidence(t *testing.T) {
	c := st.New(t, st.Options{Policy: lenientExchange})
	me := st.Caller(service.RoleMarginEngine)
	cases := map[string]struct {
		req    custody.Request
		reason string
	}{
		"forged": {st.Liquidation("forged", 1_000_000, st.RogueKey(), st.Epoch), custody.ReasonEvidenceSignature},
		"stale":  {st.Liquidation("stale", 1_000_000, st.MarginKey(), st.Epoch.Add(-2*time.Hour)), custody.ReasonEvidenceStale},
	}
	for name, tc := range cases {
		v, _, err := c.Svc(custody.Exchange).Submit(ctx, me, tc.req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := v.Approvals[custody.Exchange]; !ok {
			t.Fatalf("%s: the lenient exchange should have approved: %+v", name, v.Decision)
		}
		ref := c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusRejected)
		if !strings.Contains(ref.Reason, tc.reason) {
			t.Fatalf("%s: custodian rejected for %q", name, ref.Reason)
		}
		failed := c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusFailed)
		if failed.Result != nil || failed.Attempts != 0 {
			t.Fatalf("%s: exchange signed or tried: %+v", name, failed)
		}
	}
}

func TestOverLimitRefusedEverywhere(t *testing.T) {
	c := st.New(t, st.Options{})
	v, created, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleOperator), st.Release("big", 300_000_000))
	if err != nil || !created {
		t.Fatal(err)
	}
	if v.Status != custody.StatusRejected || !strings.Contains(v.Reason, custody.ReasonAmountCap) {
		t.Fatalf("exchange: %s %q", v.Status, v.Reason)
	}
	c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusRejected)
	// An approval does not revive it.
	if _, err := c.Svc(custody.Custodian).Endorse(ctx, c.Approval(custody.Custodian, v, custody.Approve, "1")); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Svc(custody.Custodian).Get(v.ID); got.Status != custody.StatusRejected || got.Result != nil {
		t.Fatalf("custodian: %+v", got)
	}
}

// The same idempotency key twice is one request; with another body it is
// a conflict; an approval replayed (at the same or another node) is refused.
func TestIdempotencyAndReplay(t *testing.T) {
	c := st.New(t, st.Options{})
	svc, op := c.Svc(custody.Exchange), st.Caller(service.RoleOperator)
	v1, created1, err1 := svc.Submit(ctx, op, st.Release("same", 1000))
	v2, created2, err2 := svc.Submit(ctx, op, st.Release("same", 1000))
	if err1 != nil || err2 != nil || !created1 || created2 || v1.ID != v2.ID {
		t.Fatalf("idempotent submit: %v %v %v %v", err1, err2, created1, created2)
	}
	if _, _, err := svc.Submit(ctx, op, st.Release("same", 2000)); !errors.Is(err, store.ErrIdempotencyConflict) {
		t.Fatalf("same key, other body: %v", err)
	}
	if list, _ := svc.List(service.ListFilter{}); len(list) != 1 {
		t.Fatalf("%d requests stored", len(list))
	}
	a := c.Approval(custody.Exchange, v1, custody.Approve, "r")
	if _, err := svc.Endorse(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Endorse(ctx, a); !errors.Is(err, custody.ErrReplay) {
		t.Fatalf("replay at the same node: %v", err)
	}
	c.WaitFor(t, custody.Custodian, v1.ID, "exchange approval", func(v service.View) bool {
		_, ok := v.Approvals[custody.Exchange]
		return ok
	})
	if _, err := c.Svc(custody.Custodian).Endorse(ctx, a); !errors.Is(err, custody.ErrReplay) {
		t.Fatalf("replay at another node: %v", err)
	}
	altered := a
	altered.Kind = custody.KindUnfreeze
	if _, err := svc.Endorse(ctx, altered); !errors.Is(err, custody.ErrMismatch) && !errors.Is(err, custody.ErrBadSignature) {
		t.Fatalf("altered approval: %v", err)
	}
}
