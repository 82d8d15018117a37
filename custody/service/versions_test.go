package service_test

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
)

// ../shared/SECURITY.md scenario 35 (rolling upgrades): the exchange's node still
// runs protocol version 1 (no version field anywhere, no hello); the
// custodian and the regulator run the newest (node.ProtocolMax). A release is proposed,
// approved by both operators, signed by the custodian with the exchange
// and recorded done everywhere; the old node is never sent a version
// field, in a frame or in a custody message, and the two new nodes send
// each other custody messages of the newest version.
func TestRollingUpgradeCustodyRelease(t *testing.T) {
	c := st.New(t, st.Options{Node: func(p custody.Party, o *node.Options) {
		if p == custody.Exchange {
			o.ProtocolMin, o.ProtocolMax = 1, 1
		}
	}})
	var mu sync.Mutex
	var bad []string
	newToNew := 0
	c.Net.Intercept(func(from, to string, f []byte) [][]byte {
		var fr struct {
			Kind string `json:"kind"`
			V    int    `json:"v"`
			App  *struct {
				Payload json.RawMessage `json:"payload"`
			} `json:"app"`
		}
		if err := json.Unmarshal(f, &fr); err != nil {
			t.Errorf("frame: %v", err)
			return [][]byte{f}
		}
		var msgV int
		if fr.App != nil {
			var m struct {
				V int `json:"v"`
			}
			json.Unmarshal(fr.App.Payload, &m)
			msgV = m.V
		}
		old := from == "exchange" || to == "exchange"
		mu.Lock()
		defer mu.Unlock()
		switch {
		case old && fr.Kind != "hello" && (fr.V != 0 || msgV != 0):
			bad = append(bad, from+"->"+to+": "+string(f))
		case !old && fr.App != nil && fr.V == node.ProtocolMax && msgV == node.ProtocolMax:
			newToNew++
		}
		return [][]byte{f}
	})
	v, created, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleOperator), st.Release("upgrade-1", 1_000_000))
	if err != nil || !created {
		t.Fatalf("submit: %v created=%v", err, created)
	}
	for _, p := range custody.Parties {
		c.WaitFor(t, p, v.ID, "a decision", func(v service.View) bool { return v.Decision != nil })
	}
	for _, p := range []custody.Party{custody.Exchange, custody.Custodian} {
		if _, err := c.Svc(p).Endorse(ctx, c.Approval(p, v, custody.Approve, "1")); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range custody.Parties {
		done := c.WaitStatus(t, p, v.ID, custody.StatusDone)
		if done.Result == nil || !done.Result.Complete || len(done.Result.Signatures) != 1 {
			t.Fatalf("%s: result %+v", p, done.Result)
		}
		if !slices.Contains(done.Result.Signers, custody.Exchange) {
			t.Fatalf("%s: signed by %v, not with the version-1 exchange", p, done.Result.Signers)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) != 0 {
		t.Fatalf("the version-1 node was sent or sent versioned messages: %v", bad)
	}
	if newToNew == 0 {
		t.Fatalf("the new nodes sent each other no version-%d custody message", node.ProtocolMax)
	}
}
