package holdings_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss/fixtures"
)

// chain is one node's Bitcoin node as the holdings view sees it.
type chain struct {
	mu    sync.Mutex
	coins map[string][]btc.Unspent
}

func (c *chain) BestBlock(context.Context) (int64, string, error) {
	return 150, strings.Repeat("ab", 32), nil
}

func (c *chain) ListUnspent(_ context.Context, addr string, _ int64) ([]btc.Unspent, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.coins[addr], nil
}

func (c *chain) set(addr string, value int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.coins[addr] = []btc.Unspent{{UTXO: btc.UTXO{OutPoint: wire.OutPoint{Hash: chainhash.Hash{byte(value)}}, Value: value}, Confirmations: 6}}
}

type addrs struct{}

func (addrs) Address(_ context.Context, keyID, path string) (string, error) { return keyID + path, nil }

func holdingsPolicy() custody.Policy {
	p := custody.DefaultPolicy(custody.Custodian)
	p.Keys = []custody.KeyConfig{{ID: "vault-1", Role: custody.RoleCustody}}
	p.Accounts = []custody.Account{
		{ID: "acct-1", KeyID: "vault-1", ChildPath: "m/0/1", OwnerAddress: "o1"},
		{ID: "acct-2", KeyID: "vault-1", ChildPath: "m/0/2", OwnerAddress: "o2"},
	}
	return p
}

// attestCluster is three nodes holding the fixture key as their
// attestation key, each with its own chain view.
func attestCluster(t *testing.T) (*servicetest.Cluster, map[custody.Party]*chain) {
	chains := map[custody.Party]*chain{}
	for _, p := range custody.Parties {
		chains[p] = &chain{coins: map[string][]btc.Unspent{}}
		chains[p].set("vault-1m/0/1", 120_000)
		chains[p].set("vault-1m/0/2", 9_000)
	}
	var c *servicetest.Cluster
	pols := map[custody.Party]custody.Policy{}
	c = servicetest.New(t, servicetest.Options{
		Policy: func(p custody.Party, pol *custody.Policy) {
			pol.Keys = []custody.KeyConfig{{ID: fixtures.KeyID, Role: custody.RoleAttestation}}
			pol.Accounts = nil
			pols[p] = *pol
		},
		Node: func(p custody.Party, o *node.Options) {
			o.Authorizer = holdings.Authorizer{Policy: pols[p], Next: o.Authorizer,
				Now:  func() time.Time { return c.Members[p].Clock.Now() }, // c is set once New returns, before any signing
				View: holdings.View{Policy: holdingsPolicy(), Network: "regtest", Chain: chains[p], Addresses: addrs{}}}
		},
	})
	return c, chains
}

func attester(c *servicetest.Cluster, chains map[custody.Party]*chain) *holdings.Attester {
	m := c.Members[custody.Custodian]
	return &holdings.Attester{KeyID: fixtures.KeyID, Signer: m.Node, Keys: m.Keys, Now: m.Clock.Now,
		View: holdings.View{Policy: holdingsPolicy(), Network: "regtest", Chain: chains[custody.Custodian], Addresses: addrs{}}}
}

// Issue 13: the attestation key signs a snapshot 2-of-3 only when the
// partner's own chain view gives the same root (scenario 26: no signer
// takes the coordinator's word for a chain fact); a proof from it
// verifies against the group key.
func TestAttestSignedOnlyWhenPartnersAgree(t *testing.T) {
	c, chains := attestCluster(t)
	a := attester(c, chains)
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
	chains[custody.Exchange].set("vault-1m/0/2", 8_999)
	c.Members[custody.Custodian].Clock.Advance(time.Second)
	if _, err := a.Attest(ctx); err != nil {
		t.Fatalf("with the regulator agreeing: %v", err)
	}
	// Both partners disagree: nothing is signed, the old snapshot stays.
	chains[custody.Regulator].set("vault-1m/0/1", 1)
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
// signed by no other key (scenario 33).
func TestAuthorizerKeepsRolesApart(t *testing.T) {
	pol := custody.DefaultPolicy(custody.Exchange)
	pol.Keys = []custody.KeyConfig{{ID: "attest-1", Role: custody.RoleAttestation}, {ID: "vault-1", Role: custody.RoleCustody}}
	ch := &chain{coins: map[string][]btc.Unspent{}}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	a := holdings.Authorizer{Policy: pol, Now: func() time.Time { return now }, Next: node.AllowAll{},
		View: holdings.View{Policy: holdingsPolicy(), Network: "regtest", Chain: ch, Addresses: addrs{}}}
	leaves, heads, _ := a.View.Read(context.Background())
	tr, _ := holdings.Build(leaves)
	snap := holdings.Snapshot{Time: now, Root: tr.Root(), Leaves: uint64(tr.Size()), Chains: heads}
	d, _ := snap.Digest()
	body, _ := json.Marshal(map[string]any{"type": holdings.PayloadType, "snapshot": snap})
	good := node.Proposal{KeyID: "attest-1", RequestID: holdings.RequestID(snap), Digest: d[:], Payload: body,
		Participants: []string{"custodian", "exchange"}}
	if err := a.AuthorizeSign(context.Background(), "attest-1", &good); err != nil {
		t.Fatalf("good snapshot: %v", err)
	}
	cases := map[string]func(p *node.Proposal) string{
		"raw digest on the attestation key": func(p *node.Proposal) string { p.Payload = nil; return "attest-1" },
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
	ob, _ := json.Marshal(map[string]any{"type": holdings.PayloadType, "snapshot": old})
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
