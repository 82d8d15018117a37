package store_test

import (
	"reflect"
	"testing"
)

// Issue 9 (the storm's drain): reading a stored request again does not
// decode it again. A batch of 50 liquidations read each member once per
// input session and once per member result at every node, a strict JSON
// decode and a re-encoding each time (../shared/SECURITY.md scenario 19: the
// storm's work must stay bounded per request). What a read returns is
// the caller's own: changing it changes no other read.
func TestGetDecodesAStoredRequestOnce(t *testing.T) {
	s := newStore(t)
	req := liquidation("once-1", "nonce-once-1")
	e, _, err := s.Propose(req, t0)
	if err != nil {
		t.Fatal(err)
	}
	id := e.Request.ID()
	first, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := s.Get(id); err != nil {
			t.Fatal(err)
		}
	})
	// A strict decode of a liquidation, its re-encoding and its ID are
	// some 400 allocations; the bolt read, the entry's progress and a copy
	// of the evidence some 25.
	if allocs > 60 {
		t.Fatalf("reading a stored liquidation again: %.0f allocations, it is decoded again", allocs)
	}
	first.Request.Evidence.Collateral[0].Value = 1
	first.Request.Evidence.Signature[0] ^= 0xff
	again, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Request, e.Request) || again.Request.ID() != id {
		t.Fatalf("a read changed by another read's caller: %+v", again.Request.Evidence)
	}
}
