package node

import (
	"fmt"
	"testing"

	"github.com/triad-custody/triad/tss"
)

// Scenario 19 at the router: a flood of envelopes for sessions that do not
// exist stays within the pending bounds and is counted.
func TestRouterPendingBounded(t *testing.T) {
	c := newCounters()
	r := newRouter(c)
	payload := make([]byte, 256<<10)
	for i := 0; i < 500; i++ {
		sid := tss.DeriveSessionID(tss.Sign, []byte(fmt.Sprint(i%100)))
		p := append([]byte(fmt.Sprint(i)), payload...)
		r.deliver("exchange", tss.Envelope{Session: sid, Payload: p})
	}
	if r.pendB > maxPendingBytes || len(r.pending) > maxPendingSessions || len(r.pendQ) > maxPendingSessions {
		t.Fatalf("pending grew to %d bytes, %d sessions", r.pendB, len(r.pending))
	}
	got := c.snapshot()
	if got["pending_overflow"] == 0 && got["pending_evicted"] == 0 {
		t.Fatalf("flood not counted: %v", got)
	}
	// An early envelope for a session is handed over when it opens; the
	// byte count is released.
	sid := tss.DeriveSessionID(tss.Sign, []byte("early"))
	r2 := newRouter(newCounters())
	r2.deliver("exchange", tss.Envelope{Session: sid, Payload: []byte("round 1")})
	rt, err := r2.open(sid)
	if err != nil {
		t.Fatal(err)
	}
	if in := <-rt.inbox; string(in.Env.Payload) != "round 1" || r2.pendB != 0 {
		t.Fatalf("early envelope: %+v, pending bytes %d", in, r2.pendB)
	}
	r2.close(sid)
	if _, err := r2.open(sid); err == nil {
		t.Fatal("a session ID was opened twice")
	}
}
