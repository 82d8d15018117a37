package store_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/custody/store"
)

// A liquidation batch is counted once against its daily cap however often
// it is begun or joined again, survives a restart with its document and
// members, and a batch over the cap is refused without being recorded.
func TestBatchCountedOncePersisted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "custody.db")
	s := open(t, path)
	var ids []string
	for _, n := range []string{"a", "b", "c"} {
		e, _, err := s.Propose(liquidation("liq-"+n, "mc-"+n), t0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.Request.ID())
	}
	key := custody.CapKey(custody.DayKey(t0), custody.CapLiquidation)
	for range 2 {
		if _, err := s.BeginBatch("batch-1", []byte(`{"doc":1}`), ids[:2], key, 2); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.Settlements(key); n != 1 {
		t.Fatalf("one batch begun twice counted %d", n)
	}
	if _, err := s.BeginBatch("batch-1", []byte(`{"doc":2}`), ids[:2], key, 2); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("another document under one batch ID: %v", err)
	}
	if _, err := s.BeginBatch("batch-2", []byte(`{"doc":2}`), []string{ids[2], "no-such-request"}, key, 5); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown member: %v", err)
	}
	if first, err := s.BeginBatch("batch-3", []byte(`{"doc":3}`), ids[2:], key, 2); err != nil || !first {
		t.Fatalf("second batch: %v %v", first, err)
	}
	if _, err := s.BeginBatch("batch-4", []byte(`{"doc":4}`), ids[:1], key, 2); !errors.Is(err, store.ErrDailyCap) {
		t.Fatalf("third batch over a cap of 2: %v", err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	if n, _ := s.Settlements(key); n != 2 {
		t.Fatalf("after restart %d batches counted", n)
	}
	if b, ok, err := s.BatchOf(ids[0]); err != nil || !ok || b != "batch-1" {
		t.Fatalf("member's batch after restart: %q %v %v", b, ok, err)
	}
	if doc, ok, _ := s.Batch("batch-1"); !ok || string(doc) != `{"doc":1}` {
		t.Fatalf("batch document after restart: %q", doc)
	}
	if _, ok, _ := s.Batch("batch-4"); ok {
		t.Fatal("a refused batch was recorded")
	}
}

// A batch's results are stored together or not at all.
func TestPutResultsAllOrNone(t *testing.T) {
	s := newStore(t)
	e, _, err := s.Propose(liquidation("liq-r", "mc-r"), t0)
	if err != nil {
		t.Fatal(err)
	}
	id := e.Request.ID()
	err = s.PutResults([]string{id, "no-such-request"}, [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`)}, make([]audit.Entry, 2))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a missing member: %v", err)
	}
	if _, ok, _ := s.Result(id); ok {
		t.Fatal("one member's result stored without the other's")
	}
	if err := s.PutResults([]string{id}, [][]byte{[]byte(`{"a":1}`)}, make([]audit.Entry, 1)); err != nil {
		t.Fatal(err)
	}
	if b, ok, _ := s.Result(id); !ok || string(b) != `{"a":1}` {
		t.Fatalf("result %q", b)
	}
}
