package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// The custody flow through the HTTP API of three nodes that talk over
// real libp2p hosts on 127.0.0.1 (TCP, Noise, pinned peer IDs): a release
// is not signed with one approval and is signed once both operators have
// approved at their own nodes; the margin engine's liquidation is
// co-signed automatically. Every node ends with the same verified
// signature.
func TestAPIFlowLibp2p(t *testing.T) {
	c := newAPICluster(t, st.Options{Libp2p: true, SignTimeout: 10 * time.Second})
	ex, cu := custody.Exchange, custody.Custodian
	var status api.Status
	if code := c.call(t, ex, "auditor", "GET", "/v1/status", nil, &status); code != 200 || status.PeerID == "" {
		t.Fatalf("status: %d %+v", code, status)
	}

	var r service.View
	if code := c.call(t, ex, "operator", "POST", "/v1/requests", st.Release("p2p-rel", 3000), &r); code != http.StatusCreated {
		t.Fatalf("create release: %d", code)
	}
	if code := c.call(t, ex, "operator", "POST", "/v1/requests/"+r.ID+"/approvals", c.Approval(ex, r, custody.Approve, "p2p"), nil); code != 200 {
		t.Fatalf("exchange approval: %d", code)
	}
	one := c.WaitFor(t, cu, r.ID, "the exchange's approval", func(v service.View) bool { return len(v.Approvals) == 1 })
	var got service.View
	if c.call(t, cu, "auditor", "GET", "/v1/requests/"+r.ID, nil, &got); got.Status != custody.StatusProposed || got.Result != nil || one.Attempts != 0 {
		t.Fatalf("release with one approval: %s, result %v", got.Status, got.Result)
	}
	if code := c.call(t, cu, "operator", "POST", "/v1/requests/"+r.ID+"/approvals", c.Approval(cu, r, custody.Approve, "p2p"), nil); code != 200 {
		t.Fatalf("custodian approval: %d", code)
	}
	rel := waitDone(t, c, r.ID)

	liq := st.Liquidation("p2p-liq", 1_000_000, st.MarginKey(), st.Epoch.Add(-time.Minute))
	liq.CreatedAt = time.Time{}
	var l service.View
	if code := c.call(t, ex, "margin-engine", "POST", "/v1/requests", liq, &l); code != http.StatusCreated {
		t.Fatalf("create liquidation: %d", code)
	}
	lv := waitDone(t, c, l.ID)
	if !lv.Approvals[cu].Auto || !lv.Approvals[ex].Auto {
		t.Fatalf("liquidation approvals: %+v", lv.Approvals)
	}
	if rel.Result.Signatures[0].Equal(lv.Result.Signatures[0]) {
		t.Fatal("two requests, one signature")
	}
}

// waitDone waits until every node reports id done through its API and
// holds the same complete result; it returns the custodian's view.
func waitDone(t *testing.T, c *apiCluster, id string) service.View {
	t.Helper()
	var first service.View
	for i, p := range custody.Parties {
		c.WaitStatus(t, p, id, custody.StatusDone)
		var v service.View
		if code := c.call(t, p, "auditor", "GET", "/v1/requests/"+id, nil, &v); code != 200 || v.Status != custody.StatusDone {
			t.Fatalf("%s: GET %s: %d %s", p, id, code, v.Status)
		}
		if v.Result == nil || !v.Result.Complete || len(v.Result.Signatures) != 1 || v.Result.Coordinator != custody.Custodian {
			t.Fatalf("%s: result %+v", p, v.Result)
		}
		if i == 0 {
			first = v
		} else if !v.Result.Signatures[0].Equal(first.Result.Signatures[0]) {
			t.Fatalf("%s holds another signature", p)
		}
	}
	return first
}
