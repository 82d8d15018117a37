package service_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss/fixtures"
)

var ctx = context.Background()

// A release needs both the custodian's and the exchange's operators; the
// regulator only observes. One signature, recorded everywhere.
func TestReleaseNeedsBothApprovals(t *testing.T) {
	c := st.New(t, st.Options{})
	v, created, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleOperator), st.Release("rel-1", 1_000_000))
	if err != nil || !created {
		t.Fatalf("submit: %v created=%v", err, created)
	}
	for _, p := range custody.Parties {
		c.WaitFor(t, p, v.ID, "a decision", func(v service.View) bool { return v.Decision != nil })
	}
	if _, err := c.Svc(custody.Exchange).Endorse(ctx, c.Approval(custody.Exchange, v, custody.Approve, "1")); err != nil {
		t.Fatal(err)
	}
	// The custodian has the exchange's approval but not its own: it waits.
	got := c.WaitFor(t, custody.Custodian, v.ID, "exchange approval", func(v service.View) bool {
		_, ok := v.Approvals[custody.Exchange]
		return ok
	})
	if got.Status != custody.StatusProposed || got.Decision.Verdict != custody.VerdictNeedOperator {
		t.Fatalf("custodian with one approval: %s %v", got.Status, got.Decision)
	}
	if _, err := c.Svc(custody.Custodian).Endorse(ctx, c.Approval(custody.Custodian, v, custody.Approve, "1")); err != nil {
		t.Fatal(err)
	}
	for _, p := range custody.Parties {
		done := c.WaitStatus(t, p, v.ID, custody.StatusDone)
		if done.Result == nil || !done.Result.Complete || len(done.Result.Signatures) != 1 {
			t.Fatalf("%s: result %+v", p, done.Result)
		}
		if done.Result.Coordinator != custody.Custodian || done.Result.Signers[0] != "custodian" || done.Result.Signers[1] != "exchange" {
			t.Fatalf("%s: signed by %v coordinated by %s", p, done.Result.Signers, done.Result.Coordinator)
		}
	}
	if obs, _ := c.Svc(custody.Regulator).Get(v.ID); !obs.Observer || obs.Attempts != 0 {
		t.Fatalf("regulator should only observe: %+v", obs)
	}
	for _, p := range custody.Parties {
		if err := c.Svc(p).VerifyAudit(); err != nil {
			t.Fatalf("%s audit: %v", p, err)
		}
	}
}

// ../shared/SECURITY.md scenario 33: a partner's authorizer joins a raw session on a canary key
// only over the drill message it recomputes from the request ID, never
// over a digest the proposer chose (a canary account's sighash).
func TestAuthorizerRawCanaryOnlyDrillMessages(t *testing.T) {
	c := st.New(t, st.Options{Policy: func(_ custody.Party, pol *custody.Policy) {
		pol.Keys = append(pol.Keys, custody.KeyConfig{ID: "canary-x", Role: custody.RoleCanary})
	}})
	svc := c.Svc(custody.Exchange)
	sighash := bytes.Repeat([]byte{0x42}, 32)
	if err := svc.AuthorizeSign(ctx, "canary-x", &node.Proposal{RequestID: "drill-1", Digest: sighash}); !errors.Is(err, custody.ErrRawDigestRefused) {
		t.Fatalf("canary key over a chosen digest: %v", err)
	}
	d, _ := custody.DrillDigest("drill-1")
	if err := svc.AuthorizeSign(ctx, "canary-x", &node.Proposal{RequestID: "drill-1", Digest: d[:]}); err != nil {
		t.Fatalf("canary key over the drill message: %v", err)
	}
}

// The regulator never joins a release session, and the raw-digest path is
// refused for a custody key by every node's own authorizer.
func TestAuthorizerRefusals(t *testing.T) {
	c := st.New(t, st.Options{})
	svc := c.Svc(custody.Custodian)
	if err := svc.AuthorizeSign(ctx, fixtures.KeyID, &node.Proposal{Digest: make([]byte, 32)}); !errors.Is(err, custody.ErrRawDigestRefused) {
		t.Fatalf("raw digest with a custody key: %v", err)
	}
	v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleOperator), st.Release("rel-2", 1000))
	if err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, custody.Regulator, v.ID, "stored", func(service.View) bool { return true })
	d, _ := service.DefaultDigester(v.Request)
	p := &node.Proposal{KeyID: fixtures.KeyID, RequestID: v.ID + "/0/abc", Participants: []string{"exchange", "regulator"},
		Digest: d[0][:], ChildPath: st.ChildPath, Payload: v.Request.Canonical()}
	if err := c.Svc(custody.Regulator).AuthorizeSign(ctx, fixtures.KeyID, p); !errors.Is(err, service.ErrRefused) {
		t.Fatalf("regulator joined a release: %v", err)
	}
	// A digest the custodian did not compute itself.
	p.Participants, p.Digest = []string{"custodian", "exchange"}, make([]byte, 32)
	if err := svc.AuthorizeSign(ctx, fixtures.KeyID, p); !errors.Is(err, service.ErrRefused) {
		t.Fatalf("foreign digest: %v", err)
	}
}

// Liquidation with valid evidence is co-signed without any operator; the
// same evidence under another idempotency key is refused as reused.
func TestLiquidationAutomatic(t *testing.T) {
	c := st.New(t, st.Options{})
	req := st.Liquidation("liq-1", 1_000_000, st.MarginKey(), st.Epoch.Add(-time.Minute))
	v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []custody.Party{custody.Exchange, custody.Custodian} {
		done := c.WaitStatus(t, p, v.ID, custody.StatusDone)
		if !done.Approvals[custody.Custodian].Auto || !done.Approvals[custody.Exchange].Auto {
			t.Fatalf("%s: approvals %+v", p, done.Approvals)
		}
	}
	again := req
	again.IdempotencyKey = "liq-2"
	if _, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), again); err == nil {
		t.Fatal("evidence reused by a second request was accepted")
	}
	if _, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), st.Release("x", 1)); !errors.Is(err, service.ErrForbidden) {
		t.Fatalf("margin engine asked for a release: %v", err)
	}
}

// A drill: a canary request signs its own digest with a canary key once
// two parties' operators approved; no automatic approval counts.
func TestCanaryDrill(t *testing.T) {
	c := st.New(t, st.Options{Policy: func(_ custody.Party, pol *custody.Policy) {
		pol.Keys = []custody.KeyConfig{{ID: fixtures.KeyID, Role: custody.RoleCanary}}
		pol.Accounts = nil
	}})
	req := custody.Request{Kind: custody.KindCanary, IdempotencyKey: "drill-1", KeyID: fixtures.KeyID,
		Digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Reason: "quarterly drill"}
	v, _, err := c.Svc(custody.Regulator).Submit(ctx, st.Caller(service.RoleOperator), req)
	if err != nil {
		t.Fatal(err)
	}
	approve(t, c, custody.Regulator, v, "d")
	approve(t, c, custody.Exchange, v, "d")
	done := c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusDone)
	if hex.EncodeToString(done.Result.Signatures[0].Digest[:]) != req.Digest || done.Result.Coordinator != "exchange" {
		t.Fatalf("result %+v", done.Result)
	}
	c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
}
