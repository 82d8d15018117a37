package api_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/holdings/holdingstest"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node/nodetest"
)

// Issue 13: the custodian's node serves each account's proof of holdings
// under the latest signed snapshot; the exchange's node turns a proof and
// a fresh signed price into a credit line, and refuses a stale price or an
// altered proof with a 4xx (../shared/SECURITY.md scenario 21: the caller's mistake is never a
// 5xx).
func TestHoldingsProofAndCreditAPI(t *testing.T) {
	seed := sha256.Sum256([]byte("oracle"))
	oracle := ed25519.NewKeyFromSeed(seed[:])
	c, chains := holdingstest.Cluster(t, st.Options{Policy: func(p custody.Party, pol *custody.Policy) {
		pol.PriceKeys = []string{hex.EncodeToString(oracle.Public().(ed25519.PublicKey))}
	}})
	ac := &apiCluster{Cluster: c, urls: map[custody.Party]string{},
		attesters: map[custody.Party]*holdings.Attester{custody.Custodian: holdingstest.Attester(c, chains)},
		views:     map[custody.Party]*holdings.View{}}
	for _, p := range custody.Parties {
		v := holdingstest.View(chains[p])
		ac.views[p] = &v
	}
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

// Issue 13, reconciliation groundwork: every node serves its own holdings
// view; one holding changed in one node's view is found and that node
// named (holdings.Compare).
func TestHoldingsViewsReconcile(t *testing.T) {
	c, chains := holdingstest.Cluster(t, st.Options{})
	ac := &apiCluster{Cluster: c, urls: map[custody.Party]string{}, views: map[custody.Party]*holdings.View{}}
	for _, p := range custody.Parties {
		if p != custody.Regulator {
			v := holdingstest.View(chains[p])
			ac.views[p] = &v
		}
		ac.serve(t, p)
	}
	var e errBody
	if code := ac.call(t, custody.Regulator, "auditor", "GET", "/v1/holdings/view", nil, &e); code != 404 || e.Error.Code != "no_chain" {
		t.Fatalf("a node without a chain: %d %s", code, e.Error.Code)
	}
	v := holdingstest.View(chains[custody.Regulator])
	ac.views[custody.Regulator] = &v
	ac.serve(t, custody.Regulator)
	chains[custody.Exchange].Set("acct-2", 8_999)
	if code := ac.call(t, custody.Exchange, "margin-engine", "GET", "/v1/holdings/view", nil, nil); code != 403 {
		t.Fatalf("view by the margin engine: %d", code)
	}
	var views []holdings.NodeView
	for _, p := range custody.Parties {
		var nv holdings.NodeView
		if code := ac.call(t, p, "auditor", "GET", "/v1/holdings/view", nil, &nv); code != 200 || nv.Party != string(p) || len(nv.Leaves) != 2 {
			t.Fatalf("%s's view: %d %+v", p, code, nv)
		}
		views = append(views, nv)
	}
	d := holdings.Compare(views)
	if len(d) != 1 || d[0].Party != "exchange" || d[0].Account != "acct-2" || d[0].Got != "8999" || d[0].Want != "9000" {
		t.Fatalf("reconciliation: %v", d)
	}

	// The regulator's reconciler finds the same over the node network
	// (POST /v1/holdings/reconcile), and its /metrics raise the alert.
	if code := ac.call(t, custody.Regulator, "auditor", "POST", "/v1/holdings/reconcile", nil, &e); code != 404 || e.Error.Code != "no_chain" {
		t.Fatalf("reconcile without a reconciler: %d %s", code, e.Error.Code)
	}
	for _, p := range custody.Parties {
		m := c.Members[p]
		r := &holdings.Reconciler{Party: string(p), View: *ac.views[p], Net: m.Node, Audit: m.Svc.Store().Audit(), Now: m.Clock.Now,
			Incidents: m.Node, Log: slog.New(slog.DiscardHandler)}
		r.Start()
		if p == custody.Regulator {
			ac.metrics = map[custody.Party][]prometheus.Collector{p: r.Collectors()}
			ac.recs = map[custody.Party]*holdings.Reconciler{p: r}
			ac.serve(t, p)
		}
	}
	if code := ac.call(t, custody.Regulator, "operator", "POST", "/v1/holdings/reconcile", nil, nil); code != 403 {
		t.Fatalf("reconcile by an operator: %d", code)
	}
	var rep holdings.Report
	if code := ac.call(t, custody.Regulator, "auditor", "POST", "/v1/holdings/reconcile", nil, &rep); code != 200 ||
		len(rep.Differences) != 1 || rep.Differences[0].Party != "exchange" || len(rep.Views) != 3 {
		t.Fatalf("reconcile: %d %+v", code, rep)
	}
	req, _ := http.NewRequest("GET", ac.urls[custody.Regulator]+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+tokens["auditor"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body := readAll(resp); !strings.Contains(body, "triad_holdings_reconcile_differences 1") {
		t.Fatalf("/metrics: %s", body)
	}
}
