package node

import (
	"fmt"
	"testing"

	"github.com/triad-custody/triad/tss"
)

// ../shared/SECURITY.md scenario 19 at the router: a flood of envelopes for sessions that do not
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

// ../shared/SECURITY.md scenario 28 at the router: one payload under two session IDs (resharing's
// empty acknowledgements are byte-identical in every session) reaches both
// sessions; only an exact copy of an envelope within one session is
// dropped, and counted.
func TestRouterSamePayloadTwoSessions(t *testing.T) {
	c := newCounters()
	r := newRouter(c)
	ack := func(sid tss.SessionID) tss.Envelope {
		return tss.Envelope{Session: sid, Protocol: tss.Reshare, From: "exchange#2", To: []string{"custodian"},
			Round: 2, Type: "binance.tsslib.ecdsa.resharing.DGRound2Message2", Payload: []byte{0x0a, 0x00}}
	}
	first, second := tss.DeriveSessionID(tss.Reshare, []byte("first")), tss.DeriveSessionID(tss.Reshare, []byte("second"))
	for _, sid := range []tss.SessionID{first, second} {
		rt, err := r.open(sid)
		if err != nil {
			t.Fatal(err)
		}
		r.deliver("exchange", ack(sid))
		r.deliver("exchange", ack(sid)) // the same envelope again: dropped
		select {
		case in := <-rt.inbox:
			if in.Env.Session != sid {
				t.Fatalf("envelope of %s delivered to %s", in.Env.Session.Short(), sid.Short())
			}
		default:
			t.Fatalf("session %s: identical payload of another session refused (%v)", sid.Short(), c.snapshot())
		}
		if len(rt.inbox) != 0 {
			t.Fatalf("session %s: a copy of an envelope was delivered twice", sid.Short())
		}
		r.close(sid)
	}
	if got := c.snapshot()["duplicate_envelope"]; got != 2 {
		t.Fatalf("copies dropped: %d, want 2 (%v)", got, c.snapshot())
	}
	// The same payload from another sender in the same session is another
	// envelope: the guard, not the router, judges it.
	third := tss.DeriveSessionID(tss.Reshare, []byte("third"))
	rt, _ := r.open(third)
	e := ack(third)
	r.deliver("exchange", e)
	e.From = "regulator#2"
	r.deliver("regulator", e)
	if len(rt.inbox) != 2 {
		t.Fatalf("%d of 2 envelopes delivered", len(rt.inbox))
	}
}
