package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// GET /v1/requests/{id} shows the txid and confirmations each node's tick
// learns from its Bitcoin node (a stand-in Tracker here; the regtest
// version is custody/settle's TestServiceTracksConfirmations).
func TestAPISettlement(t *testing.T) {
	var confs atomic.Int64
	var c *apiCluster
	c = newAPICluster(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		o.Tracker = func(_ context.Context, req custody.Request) (service.Settlement, bool, error) {
			h := sha256.Sum256([]byte(req.ID()))
			rec := service.Settlement{TxID: hex.EncodeToString(h[:]), Confirmations: confs.Load()}
			b, _ := json.Marshal(rec)
			return rec, true, c.Svc(p).Store().PutSettlement(req.ID(), b)
		}
	}})
	ex, cu := custody.Exchange, custody.Custodian
	var r service.View
	if code := c.call(t, ex, "operator", "POST", "/v1/requests", st.Release("api-settle", 4000), &r); code != 201 {
		t.Fatalf("create: %d", code)
	}
	for _, p := range []custody.Party{ex, cu} {
		c.WaitFor(t, p, r.ID, "stored", func(service.View) bool { return true })
		if code := c.call(t, p, "operator", "POST", "/v1/requests/"+r.ID+"/approvals", c.Approval(p, r, custody.Approve, "s"), nil); code != 200 {
			t.Fatalf("%s approval: %d", p, code)
		}
	}
	for _, p := range custody.Parties {
		c.WaitStatus(t, p, r.ID, custody.StatusDone)
	}
	for _, n := range []int64{0, 2, 6} {
		confs.Store(n)
		c.Tick()
		for _, p := range custody.Parties {
			c.WaitFor(t, p, r.ID, "the confirmations", func(v service.View) bool {
				return v.Settlement != nil && v.Settlement.Confirmations == n && (n < 6 || len(c.Svc(p).Tracking()) == 0)
			})
			var raw map[string]any
			c.call(t, p, "auditor", "GET", "/v1/requests/"+r.ID, nil, &raw)
			s, _ := raw["settlement"].(map[string]any)
			if s == nil || s["txid"] == "" || s["confirmations"] != float64(n) {
				t.Fatalf("%s: settlement in the API %v", p, raw["settlement"])
			}
		}
	}
}
