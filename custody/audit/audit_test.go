package audit_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/triad-custody/triad/custody/audit"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func entry(i int, kind string) audit.Entry {
	return audit.Entry{Time: t0.Add(time.Duration(i) * time.Minute), Kind: kind, RequestID: fmt.Sprintf("req-%d", i/3),
		Party: "custodian", Payload: audit.Digest([]byte(fmt.Sprint("payload", i)))}
}

func build(t *testing.T, n int) []audit.Record {
	t.Helper()
	head := audit.GenesisHead()
	var recs []audit.Record
	for i := 0; i < n; i++ {
		r, err := audit.Next(head, entry(i, audit.KindApproval))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
		head = audit.Head{Seq: r.Seq, Hash: r.Hash}
	}
	return recs
}

func seqOf(t *testing.T, err error) uint64 {
	t.Helper()
	var ve *audit.VerifyError
	if !errors.As(err, &ve) || !errors.Is(err, audit.ErrTampered) {
		t.Fatalf("want a VerifyError, got %v", err)
	}
	return ve.Seq
}

func TestVerifyFindsTheBadRecord(t *testing.T) {
	recs := build(t, 6)
	if err := audit.Verify(recs); err != nil {
		t.Fatal(err)
	}
	clone := func() []audit.Record { return append([]audit.Record(nil), recs...) }

	altered := clone()
	altered[3].Payload = audit.Digest([]byte("forged"))
	if s := seqOf(t, audit.Verify(altered)); s != 4 {
		t.Errorf("altered record 4 reported at %d", s)
	}
	rehashed := clone()
	rehashed[3].Party = "regulator"
	rehashed[3].Hash = rehashed[3].ComputeHash()
	if s := seqOf(t, audit.Verify(rehashed)); s != 5 {
		t.Errorf("altered and rehashed record 4 reported at %d", s)
	}
	removed := append(clone()[:2], recs[3:]...)
	if s := seqOf(t, audit.Verify(removed)); s != 3 {
		t.Errorf("removed record 3 reported at %d", s)
	}
	reordered := clone()
	reordered[1], reordered[2] = reordered[2], reordered[1]
	if s := seqOf(t, audit.Verify(reordered)); s != 2 {
		t.Errorf("reordered records reported at %d", s)
	}
	if err := audit.VerifyFrom(audit.Head{Seq: recs[2].Seq, Hash: recs[2].Hash}, recs[3:]); err != nil {
		t.Errorf("suffix from a trusted head: %v", err)
	}
	if _, err := audit.Next(audit.GenesisHead(), audit.Entry{Kind: "x", Payload: "secret"}); !errors.Is(err, audit.ErrBadEntry) {
		t.Errorf("non-digest payload accepted: %v", err)
	}
}

func openChain(t *testing.T) (*bolt.DB, *audit.Chain) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "a.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := audit.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	return db, c
}

func TestStoredChain(t *testing.T) {
	db, c := openChain(t)
	for i := 0; i < 5; i++ {
		if _, err := c.Append(entry(i, audit.KindRequest)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Verify(); err != nil {
		t.Fatal(err)
	}
	head, _ := c.Head()
	if head.Seq != 5 {
		t.Fatalf("head %+v", head)
	}
	// Tamper with record 2 on disk.
	err := db.Update(func(tx *bolt.Tx) error {
		k := make([]byte, 8)
		binary.BigEndian.PutUint64(k, 2)
		var r audit.Record
		if err := json.Unmarshal(tx.Bucket([]byte("audit")).Get(k), &r); err != nil {
			return err
		}
		r.Kind = audit.KindVeto
		b, _ := json.Marshal(r)
		return tx.Bucket([]byte("audit")).Put(k, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := seqOf(t, c.Verify()); s != 2 {
		t.Fatalf("tampered record 2 reported at %d", s)
	}
}

func TestTruncationAndCompare(t *testing.T) {
	db, c := openChain(t)
	for i := 0; i < 4; i++ {
		c.Append(entry(i, audit.KindRequest))
	}
	early, _, _ := c.Record(2)
	earlyHead := audit.Head{Seq: 2, Hash: early.Hash}
	full, _ := c.Head()
	if d, _ := c.CompareWith(full); d.Relation != audit.InSync {
		t.Fatal(d)
	}
	if d, _ := c.CompareWith(earlyHead); d.Relation != audit.PeerBehind {
		t.Fatal(d)
	}
	if d, _ := c.CompareWith(audit.Head{Seq: 2, Hash: audit.Genesis}); d.Relation != audit.Forked {
		t.Fatal(d)
	}
	if d, _ := c.CompareWith(audit.Head{Seq: 9, Hash: full.Hash}); d.Relation != audit.PeerAhead {
		t.Fatal(d)
	}
	// Drop the last record but leave the head: Verify sees it.
	db.Update(func(tx *bolt.Tx) error {
		k := make([]byte, 8)
		binary.BigEndian.PutUint64(k, 4)
		return tx.Bucket([]byte("audit")).Delete(k)
	})
	if s := seqOf(t, c.Verify()); s != 4 {
		t.Fatalf("truncation reported at %d", s)
	}
	if d := audit.Compare(full, full, nil); d.Relation != audit.InSync || d.String() == "" {
		t.Fatal(d)
	}
}

func TestReconcile(t *testing.T) {
	chain := func(entries ...audit.Entry) []audit.Record {
		head := audit.GenesisHead()
		var out []audit.Record
		for _, e := range entries {
			r, _ := audit.Next(head, e)
			out = append(out, r)
			head = audit.Head{Seq: r.Seq, Hash: r.Hash}
		}
		return out
	}
	e := func(kind, req, party, payload string, min int) audit.Entry {
		return audit.Entry{Time: t0.Add(time.Duration(min) * time.Minute), Kind: kind, RequestID: req, Party: party, Payload: audit.Digest([]byte(payload))}
	}
	a := chain(e(audit.KindRequest, "r1", "exchange", "r1", 0), e(audit.KindApproval, "r1", "custodian", "ap1", 1),
		e(audit.KindStatus, "r1", "custodian", "s", 2), e(audit.KindApproval, "r1", "exchange", "ap2", 3))
	// b saw the same facts at other times and in another order, its own status records, and no custodian approval.
	b := chain(e(audit.KindRequest, "r1", "exchange", "r1", 1), e(audit.KindApproval, "r1", "exchange", "ap2", 2),
		e(audit.KindStatus, "r1", "exchange", "other", 3))
	rep := audit.Reconcile(a, b, audit.ReconcileOptions{})
	if rep.OK() || len(rep.Mismatches) != 1 || rep.Mismatches[0].Party != "custodian" || len(rep.Mismatches[0].OnlyA) != 1 {
		t.Fatalf("report %+v", rep)
	}
	b2 := append([]audit.Record(nil), b...)
	b2[1].Payload = audit.Digest([]byte("forged"))
	rep = audit.Reconcile(a, b2, audit.ReconcileOptions{Until: t0.Add(3 * time.Minute)})
	if rep.VerifyB == nil || rep.OK() {
		t.Fatalf("tampered side not reported: %+v", rep)
	}
	if rep := audit.Reconcile(a[:1], b[:1], audit.ReconcileOptions{}); !rep.OK() || rep.Compared != 1 {
		t.Fatalf("agreeing runs: %+v", rep)
	}
	if rep := audit.Reconcile(a[1:], nil, audit.ReconcileOptions{}); rep.VerifyA != nil {
		t.Fatalf("a run that starts mid-chain verifies from its first prev: %v", rep.VerifyA)
	}
}
