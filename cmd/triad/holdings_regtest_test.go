package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/holdings"
)

const (
	funded      = int64(stormFunding) // each account's one coin
	attestKeyID = "attest-1"
	btcPrice    = 6_000_000 // quote minor units per BTC in this test
)

// Issue 13 end to end on regtest with three `triad node run` processes:
// two funded accounts, a snapshot signed by the attestation key (its own
// DKG), both accounts' proofs verified with `triad proof verify` offline;
// the exchange's credit from a proof and a signed price; a margin call the
// proven collateral still covers refused (credit_covers), one it does not
// paid on chain; and the next snapshot's proof and credit reflect the
// liquidation while the other account's stay as they were.
func TestHoldingsThreeProcessesRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, runs two DKGs and starts btcd")
	}
	pricePub, priceKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := startStormClusterWith(t, 2, func(c *stormCluster) {
		c.attestKey = attestKeyID
		c.extraPolicy = fmt.Sprintf("  price_keys: [%s]\n  price_max_age: 1h\n  liquidation_batch_window: 1s\n", hex.EncodeToString(pricePub))
	})
	out := c.keygenKey(t, attestKeyID)
	groupKey := ""
	for _, l := range strings.Split(out, "\n") {
		if k, ok := strings.CutPrefix(l, "public key "); ok {
			groupKey = strings.TrimSpace(k)
		}
	}
	if groupKey == "" {
		t.Fatalf("no public key in the keygen's output:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	engine := c.apiClient(t, "exchange", "margin-engine", 2)
	prices := func() holdings.PriceInput {
		return holdings.SignPrices(holdings.PriceInput{Quote: "USD", Time: time.Now(),
			Prices: []holdings.AssetPrice{{Asset: "BTC", Price: btcPrice}}}, priceKey)
	}
	credit := func(p holdings.AccountProof) holdings.Credit {
		t.Helper()
		var cr holdings.Credit
		if err := engine.Do(ctx, "POST", "/v1/credit", api.CreditRequest{Proof: p, Prices: prices()}, &cr); err != nil {
			t.Fatalf("credit of %s: %v", p.Account, err)
		}
		return cr
	}

	first := c.snapshotProofs(t, groupKey)
	for _, a := range c.accounts {
		if got := proofAmount(t, first[a.ID]); got != funded {
			t.Fatalf("%s holds %d in the first proof, funded %d", a.ID, got, funded)
		}
	}
	// 1 BTC × 6,000,000 × 100% × 2 (the pilot's leverage cap).
	for _, a := range c.accounts {
		if cr := credit(first[a.ID]); cr.Limit != "12000000" || cr.Collateral != "6000000" {
			t.Fatalf("%s's credit: %+v", a.ID, cr)
		}
	}

	// A margin call on acct-1 for an exposure of 5,000,000, which its
	// proven collateral covers: the exchange's node refuses it.
	covered := c.submitLiquidation(ctx, t, engine, c.accounts[1], 10_000_000, 5_000_000, 6_000_000)
	if v := c.waitRequest(ctx, t, engine, covered, "rejected"); !strings.Contains(v.Reason, custody.ReasonCreditCovers) {
		t.Fatalf("the covered margin call was rejected for %q", v.Reason)
	}
	// acct-0's exposure, 13,000,000, is over its credit line: liquidated.
	mctx, mcancel := context.WithCancel(ctx)
	_, mined := c.runMiner(mctx, 20)
	defer func() { mcancel(); <-mined }()
	const liquidated = 40_000_000
	paid := c.submitLiquidation(ctx, t, engine, c.accounts[0], liquidated, 13_000_000, 6_500_000)
	c.waitRequest(ctx, t, engine, paid, "done")
	mcancel()
	<-mined
	c.chain.Generate(t, 1)

	next := c.snapshotProofs(t, groupKey)
	left := proofAmount(t, next[c.accounts[0].ID])
	if left >= funded-liquidated || left < funded-liquidated-10_000 {
		t.Fatalf("acct-0 holds %d after liquidating %d of %d (fee at most 10,000)", left, liquidated, funded)
	}
	if got := proofAmount(t, next[c.accounts[1].ID]); got != funded {
		t.Fatalf("acct-1 holds %d in the next proof, still %d expected", got, funded)
	}
	if !next[c.accounts[0].ID].Attestation.Snapshot.Time.After(first[c.accounts[0].ID].Attestation.Snapshot.Time) {
		t.Fatal("the next proof is not of a later snapshot")
	}
	want := new(big.Int).Mul(big.NewInt(left), big.NewInt(btcPrice))
	want.Quo(want, big.NewInt(100_000_000))
	if cr := credit(next[c.accounts[0].ID]); cr.Collateral != want.String() || cr.Limit != new(big.Int).Mul(want, big.NewInt(2)).String() {
		t.Fatalf("acct-0's credit after the liquidation: %+v, want collateral %s", cr, want)
	}
	if cr := credit(next[c.accounts[1].ID]); cr.Limit != "12000000" {
		t.Fatalf("acct-1's credit: %+v", cr)
	}
}

// snapshotProofs has the custodian sign a snapshot now, fetches every
// account's proof with `triad proof get` and checks each offline with
// `triad proof verify` against the attestation key's group key alone.
func (c *stormCluster) snapshotProofs(t *testing.T, groupKey string) map[string]holdings.AccountProof {
	t.Helper()
	if out, errOut, code := triad(t, c.bin, "holdings", "snapshot", "-c", c.cfgs["custodian"], "--json=false"); code != 0 ||
		!strings.Contains(out, "signed snapshot") {
		t.Fatalf("holdings snapshot: %d\n%s\n%s", code, out, errOut)
	}
	token := filepath.Join(c.dir, "custodian", "admin.token")
	proofs := map[string]holdings.AccountProof{}
	for _, a := range c.accounts {
		out, errOut, code := triad(t, c.bin, "proof", "get", "-c", c.cfgs["custodian"], "--token-file", token, "--account", a.ID)
		if code != 0 {
			t.Fatalf("proof get %s: %d\n%s", a.ID, code, errOut)
		}
		file := filepath.Join(c.dir, a.ID+"-proof.json")
		if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		var p holdings.AccountProof
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("proof of %s: %v", a.ID, err)
		}
		amount := proofAmount(t, p)
		v, errOut, code := triad(t, c.bin, "proof", "verify", "--json=false", "--proof", file, "--group-key", groupKey, "--account", a.ID)
		if code != 0 || !strings.Contains(v, "proof verifies: account "+a.ID) || !strings.Contains(v, fmt.Sprintf("BTC %d", amount)) {
			t.Fatalf("proof verify %s: %d\n%s\n%s", a.ID, code, v, errOut)
		}
		proofs[a.ID] = p
	}
	return proofs
}

// proofAmount is the account's BTC in a proof.
func proofAmount(t *testing.T, p holdings.AccountProof) int64 {
	t.Helper()
	for _, e := range p.Entries {
		if e.Leaf.Account == p.Account && e.Leaf.Asset == "BTC" && e.Leaf.Amount != nil {
			return e.Leaf.Amount.Int64()
		}
	}
	t.Fatalf("no BTC leaf of %s in its proof", p.Account)
	return 0
}

// submitLiquidation sends the margin engine's liquidation of amount from
// a, with signed evidence of the exposure and the collateral value it
// claims, and returns the request's ID.
func (c *stormCluster) submitLiquidation(ctx context.Context, t *testing.T, cl *client, a stormAccount, amount, exposure, claimed uint64) string {
	t.Helper()
	idem := fmt.Sprintf("hold-%s-%d", a.ID, amount)
	ev := custody.SignMarginCall(custody.MarginCall{Account: a.ID, Asset: "BTC", Shortfall: 50_000_000,
		Collateral: []custody.Holding{{Asset: "BTC", Value: claimed}}, Exposure: exposure, Price: btcPrice,
		Time: time.Now(), Nonce: idem}, c.engine)
	req := custody.Request{Kind: custody.KindLiquidation, IdempotencyKey: idem, Account: a.ID, KeyID: stormKeyID,
		ChildPath: a.Path, Asset: "BTC", Destination: c.settle, Amount: amount, FeeRate: stormFeeRate, Evidence: &ev}
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	s := submit(ctx, cl, body)
	if s.ID == "" || s.Code != 201 {
		t.Fatalf("liquidation of %s: %d %s %s", a.ID, s.Code, s.ErrCode, s.Err)
	}
	return s.ID
}

type requestView struct {
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Waiting string `json:"waiting"`
}

// waitRequest polls the request's view until its status is status (or,
// failing that, any final one) within ctx.
func (c *stormCluster) waitRequest(ctx context.Context, t *testing.T, cl *client, id, status string) requestView {
	t.Helper()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var v requestView
	for {
		if err := cl.Do(ctx, "GET", "/v1/requests/"+id, nil, &v); err == nil {
			switch v.Status {
			case status:
				return v
			case "rejected", "failed", "vetoed", "lapsed", "done":
				t.Fatalf("request %.12s is %s (%s), want %s", id, v.Status, v.Reason, status)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("request %.12s never %s: %+v", id, status, v)
		case <-tick.C:
		}
	}
}
