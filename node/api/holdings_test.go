package api_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/holdings/holdingstest"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node/api"
	"github.com/triad-custody/triad/node/nodetest"
)

// Issue 13: the custodian's node serves each account's proof of holdings
// under the latest signed snapshot; the exchange's node turns a proof and
// a fresh signed price into a credit line, and refuses a stale price or an
// altered proof with a 4xx (scenario 21: the caller's mistake is never a
// 5xx).
func TestHoldingsProofAndCreditAPI(t *testing.T) {
	seed := sha256.Sum256([]byte("oracle"))
	oracle := ed25519.NewKeyFromSeed(seed[:])
	c, chains := holdingstest.Cluster(t, st.Options{Policy: func(p custody.Party, pol *custody.Policy) {
		pol.PriceKeys = []string{hex.EncodeToString(oracle.Public().(ed25519.PublicKey))}
	}})
	ac := &apiCluster{Cluster: c, urls: map[custody.Party]string{},
		attesters: map[custody.Party]*holdings.Attester{custody.Custodian: holdingstest.Attester(c, chains)}}
	for _, p := range custody.Parties {
		ac.serve(t, p)
	}
	var e errBody
	if code := ac.call(t, custody.Custodian, "auditor", "GET", "/v1/holdings/acct-1/proof", nil, &e); code != 404 || e.Error.Code != "no_snapshot" {
		t.Fatalf("before a snapshot: %d %s", code, e.Error.Code)
	}
	if code := ac.call(t, custody.Exchange, "auditor", "GET", "/v1/holdings/acct-1/proof", nil, &e); code != 404 || e.Error.Code != "no_attester" {
		t.Fatalf("a node without an attester: %d %s", code, e.Error.Code)
	}
	if code := ac.call(t, custody.Custodian, "operator", "POST", "/v1/admin/holdings/snapshot", nil, nil); code != 403 {
		t.Fatalf("snapshot by an operator: %d", code)
	}
	var att holdings.Attestation
	if code := ac.call(t, custody.Custodian, "admin", "POST", "/v1/admin/holdings/snapshot", nil, &att); code != 200 || att.Snapshot.Leaves != 2 {
		t.Fatalf("snapshot: %d %+v", code, att)
	}
	var proof holdings.AccountProof
	if code := ac.call(t, custody.Custodian, "margin-engine", "GET", "/v1/holdings/acct-1/proof", nil, &proof); code != 200 {
		t.Fatalf("proof: %d", code)
	}
	pub, _ := nodetest.Share(t, "custodian").PublicKey()
	if err := proof.Verify(pub); err != nil || proof.Entries[0].Leaf.Amount.Int64() != 120_000 {
		t.Fatalf("served proof: %v %+v", err, proof.Entries)
	}
	if code := ac.call(t, custody.Custodian, "auditor", "GET", "/v1/holdings/acct-9/proof", nil, &e); code != 404 || e.Error.Code != "no_account" {
		t.Fatalf("missing account: %d %s", code, e.Error.Code)
	}

	prices := holdings.SignPrices(holdings.PriceInput{Quote: "USD", Time: time.Now().Add(-time.Second),
		Prices: []holdings.AssetPrice{{Asset: "BTC", Price: 6_000_000}}}, oracle)
	var credit holdings.Credit
	if code := ac.call(t, custody.Exchange, "margin-engine", "POST", "/v1/credit", api.CreditRequest{Proof: proof, Prices: prices}, &credit); code != 200 ||
		credit.Collateral != "7200" || credit.Limit != "14400" { // 0.0012 BTC × $60,000 = $72.00 (cents), 2×
		t.Fatalf("credit: %d %+v", code, credit)
	}
	stale := prices
	stale.Time = time.Now().Add(-time.Hour)
	stale = holdings.SignPrices(stale, oracle)
	if code := ac.call(t, custody.Exchange, "margin-engine", "POST", "/v1/credit", api.CreditRequest{Proof: proof, Prices: stale}, &e); code != 422 || e.Error.Code != "price_refused" {
		t.Fatalf("stale price: %d %s", code, e.Error.Code)
	}
	inflated := proof
	inflated.Entries = append([]holdings.Entry(nil), proof.Entries...)
	inflated.Entries[0].Leaf.Amount = big.NewInt(120_000_000)
	if code := ac.call(t, custody.Exchange, "margin-engine", "POST", "/v1/credit", api.CreditRequest{Proof: inflated, Prices: prices}, &e); code != 422 || e.Error.Code != "proof_refused" {
		t.Fatalf("inflated proof: %d %s", code, e.Error.Code)
	}
	if code := ac.call(t, custody.Exchange, "margin-engine", "POST", "/v1/credit", `{"proof":{"version":1,"entries":[{"leaf":{"amount":"x"}}]}}`, &e); code != 400 {
		t.Fatalf("malformed: %d %s", code, e.Error.Code)
	}
	if code := ac.call(t, custody.Exchange, "operator", "POST", "/v1/credit", api.CreditRequest{Proof: proof, Prices: prices}, nil); code != 403 {
		t.Fatalf("credit by an operator: %d", code)
	}
}
