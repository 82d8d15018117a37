package holdings_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/holdings/holdingstest"
	"github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
)

// Issue 13: the attestation key signs a snapshot 2-of-3 only when the
// partner's own chain view gives the same root (../shared/SECURITY.md scenario 26: no signer
// takes the coordinator's word for a chain fact); a proof from it
// verifies against the group key.
func TestAttestSignedOnlyWhenPartnersAgree(t *testing.T) {
	c, chains := holdingstest.Cluster(t, servicetest.Options{})
	a := holdingstest.Attester(c, chains)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := a.Proof("acct-1"); !errors.Is(err, holdings.ErrNoSnapshot) {
		t.Fatalf("before any snapshot: %v", err)
	}
	att, err := a.Attest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := a.GroupKey(ctx)
	p, err := a.Proof("acct-1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	q, err := holdings.DecodeProof(b, 1<<20)
	if err != nil || q.Verify(pub) != nil || q.Entries[0].Leaf.Amount.Cmp(big.NewInt(120_000)) != 0 {
		t.Fatalf("proof %s: %v / %v", b, err, q.Verify(pub))
	}
	if att.Snapshot.Leaves != 2 || att.Snapshot.Chains[0].Height != 150 {
		t.Fatalf("snapshot %+v", att.Snapshot)
	}

	// One holding differs in the exchange's view: the exchange refuses,
	// the regulator (agreeing) signs instead.
	chains[custody.Exchange].Set("acct-2", 8_999)
	c.Members[custody.Custodian].Clock.Advance(time.Second)
	if _, err := a.Attest(ctx); err != nil {
		t.Fatalf("with the regulator agreeing: %v", err)
	}
	// Both partners disagree: nothing is signed, the old snapshot stays.
	chains[custody.Regulator].Set("acct-1", 1)
	for _, p := range custody.Parties {
		c.Members[p].Clock.Advance(time.Second)
	}
	_, err = a.Attest(ctx)
	if err == nil || !strings.Contains(err.Error(), "differs from this node's chain view") {
		t.Fatalf("both partners disagree: %v", err)
	}
	if p2, _ := a.Proof("acct-2"); p2.Attestation.Snapshot.Time.Equal(att.Snapshot.Time) || p2.Verify(pub) != nil {
		t.Fatalf("the latest good snapshot should still serve proofs")
	}
}

// An attestation key signs nothing but snapshots, and a snapshot is
// signed by no other key (../shared/SECURITY.md scenario 33).
func TestAuthorizerKeepsRolesApart(t *testing.T) {
	pol := custody.DefaultPolicy(custody.Exchange)
	pol.Keys = []custody.KeyConfig{{ID: "attest-1", Role: custody.RoleAttestation}, {ID: "vault-1", Role: custody.RoleCustody}}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	a := holdings.Authorizer{Policy: pol, Now: func() time.Time { return now }, Next: node.AllowAll{},
		View: holdingstest.View(&holdingstest.Chain{})}
	leaves, heads, _ := a.View.Read(context.Background())
	tr, _ := holdings.Build(leaves)
	snap := holdings.Snapshot{Time: now, Root: tr.Root(), Leaves: uint64(tr.Size()), Chains: heads}
	d, _ := snap.Digest()
	body, _ := json.Marshal(attestPayload{holdings.PayloadType, snap})
	good := node.Proposal{KeyID: "attest-1", RequestID: holdings.RequestID(snap), Digest: d[:], Payload: body,
		Participants: []string{"custodian", "exchange"}}
	if err := a.AuthorizeSign(context.Background(), "attest-1", &good); err != nil {
		t.Fatalf("good snapshot: %v", err)
	}
	cases := map[string]func(p *node.Proposal) string{
		"raw digest on the attestation key": func(p *node.Proposal) string { p.Payload = nil; return "attest-1" },
		"a snapshot in another field order": func(p *node.Proposal) string {
			p.Payload, _ = json.Marshal(map[string]any{"type": holdings.PayloadType, "snapshot": snap})
			return "attest-1"
		},
		"a request on the attestation key": func(p *node.Proposal) string {
			p.Payload = []byte(`{"kind":"liquidation"}`)
			return "attest-1"
		},
		"a snapshot on a custody key": func(p *node.Proposal) string { return "vault-1" },
		"another digest":              func(p *node.Proposal) string { p.Digest = make([]byte, 32); return "attest-1" },
		"a child key":                 func(p *node.Proposal) string { p.ChildPath = "m/0"; return "attest-1" },
		"without the custodian": func(p *node.Proposal) string {
			p.Participants = []string{"exchange", "regulator"}
			return "attest-1"
		},
		"another session": func(p *node.Proposal) string { p.RequestID = "holdings/1"; return "attest-1" },
	}
	for name, mut := range cases {
		p := good
		key := mut(&p)
		if err := a.AuthorizeSign(context.Background(), key, &p); !errors.Is(err, holdings.ErrRefused) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A stale snapshot (taken two hours before this node's clock).
	old := snap
	old.Time = now.Add(-2 * time.Hour)
	od, _ := old.Digest()
	ob, _ := json.Marshal(attestPayload{holdings.PayloadType, old})
	p := good
	p.Digest, p.Payload, p.RequestID = od[:], ob, holdings.RequestID(old)
	if err := a.AuthorizeSign(context.Background(), "attest-1", &p); !errors.Is(err, holdings.ErrRefused) {
		t.Errorf("stale snapshot: %v", err)
	}
	// Other proposals on other keys go to the next authorizer.
	if err := a.AuthorizeSign(context.Background(), "vault-1", &node.Proposal{Payload: []byte(`{"kind":"x"}`)}); err != nil {
		t.Errorf("passed on: %v", err)
	}
}

// attestPayload is an attestation proposal's payload as Attest writes it.
type attestPayload struct {
	Type     string            `json:"type"`
	Snapshot holdings.Snapshot `json:"snapshot"`
}
