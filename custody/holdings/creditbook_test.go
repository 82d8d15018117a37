package holdings

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/internal/testkey"
)

// TestCreditBookFacts: the exchange's node keeps the latest verified proof
// per account and the latest checked prices, and the credit facts a
// liquidation is checked against come from them (issue 13; ../shared/SECURITY.md
// ../shared/SECURITY.md scenario 8): the figure of the latest snapshot, none for an account
// without a proof, none once the price has gone stale, and nothing kept
// from a proof that does not verify.
func TestCreditBookFacts(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	key := testkey.Private("attest")
	proofAt := func(snapAt time.Time, amount int64) AccountProof {
		tr, _ := Build([]Leaf{{Account: "alice", Asset: "BTC", Amount: big.NewInt(amount), Height: 101, Block: testBlock}})
		snap := snapshotOf(t, tr)
		snap.Time = snapAt
		p, err := ProofFor(tr, signSnapshot(t, key, snap), "alice")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	prices := SignPrices(PriceInput{Quote: "USD", Time: at.Add(-time.Minute), Prices: []AssetPrice{{Asset: "BTC", Price: 6_000_000}}}, priceKey("oracle"))
	b := &CreditBook{Policy: creditPolicy()}

	if f := b.Facts("alice", at); f.Limit != nil || !strings.Contains(f.Unknown, "no verified proof") {
		t.Fatalf("facts before any proof: %+v", f)
	}
	noon := at
	if _, err := b.Record(proofAt(noon, 100_000_000), key.PubKey(), prices, at); err != nil {
		t.Fatal(err)
	}
	// 1 BTC × 6,000,000 × 100% × 2 = 12,000,000.
	if f := b.Facts("alice", at); f.Unknown != "" || f.Limit.String() != "12000000" || !f.SnapshotTime.Equal(noon) {
		t.Fatalf("facts: %+v", f)
	}
	// An older snapshot does not replace the latest; a newer one does.
	if _, err := b.Record(proofAt(noon.Add(-12*time.Hour), 300_000_000), key.PubKey(), prices, at); err != nil {
		t.Fatal(err)
	}
	if f := b.Facts("alice", at); f.Limit.String() != "12000000" {
		t.Fatalf("an older snapshot replaced the latest: %+v", f)
	}
	if _, err := b.Record(proofAt(noon.Add(time.Second), 50_000_000), key.PubKey(), prices, at); err != nil {
		t.Fatal(err)
	}
	if f := b.Facts("alice", at); f.Limit.String() != "6000000" {
		t.Fatalf("the next snapshot is not reflected: %+v", f)
	}
	// A proof under another key is refused and not kept.
	if _, err := b.Record(proofAt(noon.Add(time.Hour), 1), testkey.Private("other").PubKey(), prices, at); err == nil {
		t.Fatal("a proof signed by another key was recorded")
	}
	if f := b.Facts("alice", at); f.Limit.String() != "6000000" {
		t.Fatalf("a refused proof changed the figure: %+v", f)
	}
	// The price ages past price_max_age (5 m): no figure, the reason named.
	if f := b.Facts("alice", at.Add(5*time.Minute)); f.Limit != nil || !strings.Contains(f.Unknown, "stale") {
		t.Fatalf("facts with a stale price: %+v", f)
	}
	if f := b.Facts("bob", at); f.Limit != nil || f.Unknown == "" {
		t.Fatalf("facts of an account without a proof: %+v", f)
	}
}
