package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// relabelled is n's share of the fixture key with every participant
// renamed "<party>#2", as a reshare's new committee is: the same key,
// another public view.
func relabelled(t *testing.T, ctx context.Context, n *testNode) *tss.KeyShare {
	t.Helper()
	cur, err := n.keys.Load(ctx, fixtures.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tss.MarshalShare(cur)
	next, err := tss.UnmarshalShare(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range next.Parties {
		next.Parties[i].ID = next.Parties[i].Node + "#2"
	}
	next.Self.ID = next.Self.Node + "#2"
	return next
}

// pendingLike seals, as n's pending share of the fixture key, its share
// relabelled as a reshare's new committee would be ("<party>#2"): another
// public view, as an undecided reshare leaves. It returns that view.
func pendingLike(t *testing.T, ctx context.Context, n *testNode) string {
	t.Helper()
	next := relabelled(t, ctx, n)
	if err := n.keys.SavePending(ctx, next); err != nil {
		t.Fatal(err)
	}
	v, _ := next.PublicView()
	return hex.EncodeToString(v[:])
}

// An undecided reshare is resolved at one node by naming the pending
// view: a wrong view changes nothing, discard keeps the old share, commit
// puts the pending one in force (on disk too); each resolution is a
// reshare step for the audit chain.
func TestResolveUndecidedReshare(t *testing.T) {
	_, nodes := memCluster(t, clusterOpts{withShares: true})
	ev := &events{}
	n := nodes["custodian"]
	n.EnableRecovery(reshare.Options{Observer: ev.add})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if err := n.ResolveReshare(ctx, fixtures.KeyID, "", true); !errors.Is(err, keystore.ErrNoPending) {
		t.Fatalf("nothing pending: %v", err)
	}
	view := pendingLike(t, ctx, n)
	checks, err := n.keys.CheckUnseal(ctx)
	if err != nil || len(checks) != 1 || checks[0].PendingView != view || checks[0].View == view {
		t.Fatalf("unseal check %+v, %v", checks, err)
	}
	if got := n.keys.PendingKeys(); len(got) != 1 || got[0] != fixtures.KeyID {
		t.Fatalf("pending keys %v", got)
	}
	if err := n.ResolveReshare(ctx, fixtures.KeyID, checks[0].View, true); err == nil || !n.keys.HasPending(fixtures.KeyID) {
		t.Fatalf("commit naming the in-force view: %v", err)
	}
	if err := n.ResolveReshare(ctx, fixtures.KeyID, view, false); err != nil || n.keys.HasPending(fixtures.KeyID) {
		t.Fatalf("discard: %v", err)
	}
	if s, _ := n.keys.Load(ctx, fixtures.KeyID); s.Self.ID != "custodian" {
		t.Fatalf("after discard %s is in force", s.Self.ID)
	}

	view = pendingLike(t, ctx, n)
	if err := n.ResolveReshare(ctx, fixtures.KeyID, view, true); err != nil {
		t.Fatalf("commit: %v", err)
	}
	ks, _ := keystore.New(n.keys.Dir(), "custodian", n.sealer)
	if s, err := ks.Load(ctx, fixtures.KeyID); err != nil || s.Self.ID != "custodian#2" || ks.HasPending(fixtures.KeyID) {
		t.Fatalf("on disk after commit: %v %v", s, err)
	}
	// Committing re-keys the sealer (../shared/SECURITY.md scenario 32).
	if got := ev.steps("custodian"); len(got) != 3 || got[0] != "resolved: discarded" || got[1] != "resolved: committed" || got[2] != "sealing key re-keyed" {
		t.Fatalf("steps %v", got)
	}
}

// A partner holding another sharing of the key (here the exchange, whose
// share in force is relabelled as after a reshare the custodian never
// committed) declines a signing proposal at once, naming the stale share;
// the coordinator fails over to the regulator, which holds the same
// sharing, and signs.
func TestSignDeclinedOnShareMismatch(t *testing.T) {
	_, nodes := memCluster(t, clusterOpts{withShares: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ex := nodes["exchange"]
	other := relabelled(t, ctx, ex)
	ex.keys.Use(other)

	res, err := nodes["custodian"].Sign(ctx, SignRequest{KeyID: fixtures.KeyID, RequestID: "stale-partner",
		Digest: sha256.Sum256([]byte("stale")), Partner: "exchange"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 2 || !strings.Contains(res.Attempts[0].Error, "share views differ") || res.Signers[1] != "regulator" {
		t.Fatalf("attempts %+v, signers %v", res.Attempts, res.Signers)
	}
	verifySig(t, fixturePub(t), res.Signature)
}
