package holdings

import (
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/triad-custody/triad/internal/testkey"
)

// Proofs of holdings (issue 13). The exchange extends credit on what a
// proof says, so a proof must fail for anything but the signed snapshot's
// own leaves (../shared/SECURITY.md scenario 26: values come from the chain, and
// nobody's word — a proof is the chain view the signers agreed on).

func setup(t *testing.T, n int) (*Tree, Attestation) {
	t.Helper()
	tr, err := Build(genLeaves(n))
	if err != nil {
		t.Fatal(err)
	}
	return tr, signSnapshot(t, testkey.Private("attest"), snapshotOf(t, tr))
}

func TestProofVerifiesForEveryAccount(t *testing.T) {
	tr, att := setup(t, 257)
	pub := testkey.Private("attest").PubKey()
	seen := map[string]bool{}
	for _, l := range tr.Leaves() {
		if seen[l.Account] {
			continue
		}
		seen[l.Account] = true
		p, err := ProofFor(tr, att, l.Account)
		if err != nil {
			t.Fatal(err)
		}
		// Through JSON, as the API serves it and the CLI reads it.
		b, _ := json.Marshal(p)
		q, err := DecodeProof(b, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Verify(pub); err != nil {
			t.Fatalf("%s: %v", l.Account, err)
		}
	}
	if len(seen) != 257 {
		t.Fatalf("%d accounts", len(seen))
	}
}

func TestProofFailsForAnythingElse(t *testing.T) {
	tr, att := setup(t, 40)
	pub := testkey.Private("attest").PubKey()
	good, err := ProofFor(tr, att, "acct-000003") // two leaves: BTC, USDC
	if err != nil || len(good.Entries) != 2 {
		t.Fatalf("%v %d", err, len(good.Entries))
	}
	clone := func() AccountProof {
		b, _ := json.Marshal(good)
		p, err := DecodeProof(b, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Another snapshot: the same leaves a block later, signed too.
	later := att.Snapshot
	later.Time = later.Time.Add(12 * time.Hour)
	otherAtt := signSnapshot(t, testkey.Private("attest"), later)
	// A tree over the same leaves in another order (not sorted).
	hs := append([][32]byte(nil), tr.levels[0]...)
	hs[6], hs[5] = hs[5], hs[6]
	reordered := &Tree{leaves: append([]Leaf(nil), tr.leaves...), levels: buildLevels(hs)}
	reordered.leaves[5], reordered.leaves[6] = reordered.leaves[6], reordered.leaves[5]
	reAtt := signSnapshot(t, testkey.Private("attest"), snapshotOf(t, reordered))

	cases := map[string]struct {
		mut  func(p *AccountProof)
		want error
	}{
		"changed amount": {func(p *AccountProof) { p.Entries[0].Leaf.Amount = big.NewInt(1_000_000) }, ErrProof},
		"changed asset":  {func(p *AccountProof) { p.Entries[1].Leaf.Asset = "USDT" }, ErrProof},
		"missing account": {func(p *AccountProof) {
			p.Account = "acct-999999"
			for i := range p.Entries {
				p.Entries[i].Leaf.Account = "acct-999999"
			}
		}, ErrProof},
		"another account's leaves": {func(p *AccountProof) { p.Account = "acct-000004" }, ErrProof},
		"no entries":               {func(p *AccountProof) { p.Entries = nil }, ErrNoAccount},
		"another snapshot's signature": {func(p *AccountProof) {
			p.Attestation.Snapshot, p.Attestation.R, p.Attestation.S = later, att.R, att.S
		}, ErrProof},
		"another snapshot": {func(p *AccountProof) { p.Attestation = otherAtt; p.Attestation.Snapshot.Root[0] ^= 1 }, ErrProof},
		"another tree's signed snapshot": {func(p *AccountProof) {
			big, _ := Build(genLeaves(41))
			p.Attestation = signSnapshot(t, testkey.Private("attest"), snapshotOf(t, big))
		}, ErrProof},
		"reordered tree": {func(p *AccountProof) {
			rp, err := ProofFor(reordered, reAtt, "acct-000003")
			if err != nil {
				t.Fatal(err)
			}
			p.Entries = rp.Entries // proofs of the reordered tree against the signed (sorted) root
		}, ErrProof},
		"another height":  {func(p *AccountProof) { p.Entries[0].Leaf.Height = 100 }, ErrProof},
		"another size":    {func(p *AccountProof) { p.Entries[0].Inclusion.Size++ }, ErrProof},
		"another index":   {func(p *AccountProof) { p.Entries[0].Inclusion.Index++; p.Entries[1].Inclusion.Index++ }, ErrProof},
		"dropped path":    {func(p *AccountProof) { p.Entries[0].Inclusion.Path = p.Entries[0].Inclusion.Path[1:] }, ErrProof},
		"leaves swapped":  {func(p *AccountProof) { p.Entries[0], p.Entries[1] = p.Entries[1], p.Entries[0] }, ErrProof},
		"zero signature":  {func(p *AccountProof) { p.Attestation.S = HexHash{} }, ErrProof},
		"version":         {func(p *AccountProof) { p.Version = 2 }, ErrMalformed},
		"a leaf left out": {func(p *AccountProof) { p.Entries = p.Entries[:1] }, ErrProof},
		"a leaf left out, the next account's as after": {func(p *AccountProof) {
			p.Entries = p.Entries[:1]
			p.After = &Entry{Leaf: p.After.Leaf, Inclusion: p.After.Inclusion}
			p.After.Inclusion.Index--
		}, ErrProof},
		"no leaf before":                  {func(p *AccountProof) { p.Before = nil }, ErrProof},
		"no leaf after":                   {func(p *AccountProof) { p.After = nil }, ErrProof},
		"the leaf before altered":         {func(p *AccountProof) { b := *p.Before; b.Leaf.Amount = big.NewInt(7); p.Before = &b }, ErrProof},
		"the account's own leaf as after": {func(p *AccountProof) { a := p.Entries[1]; p.After = &a }, ErrProof},
	}
	for name, c := range cases {
		p := clone()
		c.mut(&p)
		if err := p.Verify(pub); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	// The reordered tree is a real tree: its own proofs verify against its
	// own (differently signed) root, so what fails above is the order.
	rp, _ := ProofFor(reordered, reAtt, "acct-000003")
	if err := rp.Verify(pub); err != nil || reAtt.Snapshot.Root == att.Snapshot.Root {
		t.Fatalf("the reordered tree should differ and be self-consistent: %v", err)
	}
	// The good proof against another key.
	if err := clone().Verify(testkey.Private("someone else").PubKey()); !errors.Is(err, ErrProof) {
		t.Fatalf("another key: %v", err)
	}
	if err := clone().Verify(pub); err != nil {
		t.Fatalf("the unmodified proof: %v", err)
	}
	if _, err := ProofFor(tr, att, "acct-999999"); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("proof of a missing account: %v", err)
	}
	if _, err := ProofFor(tr, otherAtt, "acct-000003"); err != nil {
		t.Fatalf("the later attestation is of the same tree: %v", err)
	}
	if _, err := ProofFor(reordered, att, "acct-000003"); !errors.Is(err, ErrProof) {
		t.Fatalf("an attestation of another tree: %v", err)
	}
}

func TestDecodeProofIsStrict(t *testing.T) {
	tr, att := setup(t, 3)
	p, _ := ProofFor(tr, att, "acct-000001")
	b, _ := json.Marshal(p)
	for name, in := range map[string][]byte{
		"unknown field": append(b[:len(b)-1], []byte(`,"extra":1}`)...),
		"trailing":      append(append([]byte(nil), b...), []byte(`{}`)...),
		"too large":     append(b, make([]byte, 1<<20)...),
		"bad amount":    []byte(`{"version":1,"account":"a","entries":[{"leaf":{"account":"a","asset":"BTC","amount":"1e9","height":1,"block":"` + testBlock + `"}}]}`),
		"bad hash":      []byte(`{"version":1,"account":"a","entries":[{"leaf":{"account":"a","asset":"BTC","amount":"1","height":1,"block":"` + testBlock + `"},"inclusion":{"index":0,"size":1,"path":["zz"]}}]}`),
		"not json":      []byte(`{`),
	} {
		if _, err := DecodeProof(in, 1<<20); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
