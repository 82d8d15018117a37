package service_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// The regulator reconciles on its schedule (12h by default, on its own
// clock); a fact only one node recorded is reported as a mismatch.
func TestReconcileOnSchedule(t *testing.T) {
	c := st.New(t, st.Options{})
	v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleOperator), st.Release("audit-1", 5000))
	if err != nil {
		t.Fatal(err)
	}
	approve(t, c, custody.Exchange, v, "1")
	for _, p := range custody.Parties {
		c.WaitFor(t, p, v.ID, "exchange approval", hasApprovals(1))
	}
	events, cancel := c.Svc(custody.Regulator).Subscribe(0)
	defer cancel()
	c.Advance(11 * time.Hour)
	c.Advance(time.Hour) // 12h: due
	waitEvent(t, events, service.EventReconcile)
	waitEvent(t, events, service.EventReconcile)
	res := c.Svc(custody.Regulator).LastReconcile()
	if len(res) != 2 {
		t.Fatalf("results: %+v", res)
	}
	for _, r := range res {
		if !r.OK || r.Compared < 2 {
			t.Fatalf("reconcile with %s: %+v", r.Peer, r)
		}
	}
	// The exchange records an approval nobody else saw.
	forged := audit.Entry{Time: c.Members[custody.Exchange].Clock.Now().Add(-time.Hour), Kind: audit.KindApproval, RequestID: v.ID,
		Party: "custodian", Payload: audit.Digest([]byte("forged"))}
	if _, err := c.Svc(custody.Exchange).Store().Audit().Append(forged); err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Svc(custody.Regulator).Reconcile(ctx) {
		switch r.Peer {
		case "exchange":
			if r.OK || len(r.Mismatches) != 1 || len(r.Mismatches[0].OnlyB) != 1 || r.Mismatches[0].Party != "custodian" {
				t.Fatalf("mismatch not found: %+v", r)
			}
		case "custodian":
			if !r.OK {
				t.Fatalf("custodian: %+v", r)
			}
		}
	}
	for _, p := range custody.Parties {
		if err := c.Svc(p).VerifyAudit(); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
}

// A head that goes backwards is a divergence: the exchange's head, as the
// regulator receives it, is rewritten to an earlier seq.
func TestHeadDivergence(t *testing.T) {
	c := st.New(t, st.Options{})
	if _, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleOperator), st.Release("audit-2", 5000)); err != nil {
		t.Fatal(err)
	}
	events, cancel := c.Svc(custody.Regulator).Subscribe(0)
	defer cancel()
	heads := make(chan struct{}, 16)
	c.Net.Intercept(func(from, to string, f []byte) [][]byte {
		if from != "exchange" || to != "regulator" {
			return [][]byte{f}
		}
		var fr struct {
			Kind string `json:"kind"`
			App  struct {
				Topic   string          `json:"topic"`
				Payload json.RawMessage `json:"payload"`
			} `json:"app"`
		}
		if json.Unmarshal(f, &fr) != nil || fr.Kind != "app" {
			return [][]byte{f}
		}
		var m map[string]any
		json.Unmarshal(fr.App.Payload, &m)
		if m["type"] != "head" {
			return [][]byte{f}
		}
		select {
		case heads <- struct{}{}:
		default:
		}
		return [][]byte{f}
	})
	c.Tick()
	select {
	case <-heads:
	case <-time.After(10 * time.Second):
		t.Fatal("the exchange sent no audit head")
	}
	// The regulator pinned the exchange's head; now the exchange claims an
	// earlier one.
	c.Net.Intercept(func(from, to string, f []byte) [][]byte {
		if from == "exchange" && to == "regulator" {
			var fr map[string]any
			if json.Unmarshal(f, &fr) == nil && fr["kind"] == "app" {
				app := fr["app"].(map[string]any)
				var m map[string]any
				json.Unmarshal(mustJSON(app["payload"]), &m)
				if m["type"] == "head" {
					m["head"] = map[string]any{"seq": 1, "hash": audit.Genesis}
					app["payload"] = m
					return [][]byte{mustJSON(fr)}
				}
			}
		}
		return [][]byte{f}
	})
	c.Tick()
	e := waitEvent(t, events, service.EventDivergence)
	if e.Party != custody.Exchange {
		t.Fatalf("divergence blamed %s: %s", e.Party, e.Detail)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
