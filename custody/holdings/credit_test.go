package holdings

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/internal/testkey"
)

func priceKey(seed string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

func creditPolicy() custody.Policy {
	p := viewPolicy()
	p.Assets = []custody.Asset{
		{Symbol: "BTC", Decimals: 8, CollateralFactorBps: 10000},
		{Symbol: "MMF", Decimals: 6, CollateralFactorBps: 9800},
		{Symbol: "USDC", Decimals: 6, CollateralFactorBps: 9500},
	}
	p.PriceKeys = []string{hex.EncodeToString(priceKey("oracle").Public().(ed25519.PublicKey))}
	p.PriceMaxAge = 5 * time.Minute
	p.MaxLeverageBps = 30000 // above the pilot's 2×: the cap holds anyway
	return p
}

// Issue 13: mirrored credit from a verified proof and a fresh, signed
// price input; a stale, unsigned or foreign price is refused.
func TestCreditFromVerifiedProof(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	leaves := []Leaf{
		{Account: "alice", Asset: "BTC", Amount: big.NewInt(150_000_000), Height: 101, Block: testBlock},   // 1.5 BTC
		{Account: "alice", Asset: "MMF", Amount: big.NewInt(2_000_000_000), Height: 101, Block: testBlock}, // 2000 shares
		{Account: "alice", Asset: "USDC", Amount: big.NewInt(10_000_000), Height: 101, Block: testBlock},   // 10 USDC
		{Account: "bob", Asset: "BTC", Amount: big.NewInt(1), Height: 101, Block: testBlock},
	}
	tr, _ := Build(leaves)
	att := signSnapshot(t, testkey.Private("attest"), snapshotOf(t, tr))
	proof, _ := ProofFor(tr, att, "alice")
	pol := creditPolicy()
	prices := SignPrices(PriceInput{Quote: "USD", Time: at.Add(-time.Minute), Prices: []AssetPrice{
		{Asset: "BTC", Price: 6_000_000}, {Asset: "MMF", Price: 100}, {Asset: "USDC", Price: 100}}}, priceKey("oracle"))
	c, err := CreditFor(pol, proof, testkey.Private("attest").PubKey(), prices, at)
	if err != nil {
		t.Fatal(err)
	}
	// 1.5 × 6,000,000¢ × 100% = 9,000,000; 2000 × 100¢ × 98% = 196,000; 10 × 100¢ × 95% = 950.
	if c.Collateral != "9196950" || c.LeverageBps != 20000 || c.Limit != "18393900" || len(c.Lines) != 3 ||
		c.Lines[1].Value != "196000" || c.Lines[2].Value != "950" {
		t.Fatalf("credit %+v", c)
	}

	refuse := map[string]func() (PriceInput, []Leaf){
		"stale": func() (PriceInput, []Leaf) {
			p := prices
			p.Time = at.Add(-6 * time.Minute)
			return SignPrices(p, priceKey("oracle")), nil
		},
		"future": func() (PriceInput, []Leaf) {
			p := prices
			p.Time = at.Add(time.Hour)
			return SignPrices(p, priceKey("oracle")), nil
		},
		"unsigned":    func() (PriceInput, []Leaf) { p := prices; p.Signature = nil; return p, nil },
		"another key": func() (PriceInput, []Leaf) { return SignPrices(prices, priceKey("mallory")), nil },
		"changed after signing": func() (PriceInput, []Leaf) {
			p := prices
			p.Prices = append([]AssetPrice(nil), p.Prices...)
			p.Prices[0].Price *= 2
			return p, nil
		},
		"missing price": func() (PriceInput, []Leaf) {
			p := prices
			p.Prices = p.Prices[:2]
			return SignPrices(p, priceKey("oracle")), nil
		},
	}
	for name, mk := range refuse {
		p, _ := mk()
		if _, err := CreditFor(pol, proof, testkey.Private("attest").PubKey(), p, at); !errors.Is(err, ErrPrice) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	noKeys := pol
	noKeys.PriceKeys = nil
	if _, err := CreditFor(noKeys, proof, testkey.Private("attest").PubKey(), prices, at); !errors.Is(err, ErrPrice) {
		t.Errorf("no price keys: %v", err)
	}
	// No credit without a proof that verifies.
	bad := proof
	bad.Entries = append([]Entry(nil), proof.Entries...)
	bad.Entries[0].Leaf.Amount = big.NewInt(1_500_000_000)
	if _, err := CreditFor(pol, bad, testkey.Private("attest").PubKey(), prices, at); !errors.Is(err, ErrProof) {
		t.Errorf("inflated proof: %v", err)
	}
}
