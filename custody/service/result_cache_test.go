package service

import (
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/store"
)

// Issue 9 (the storm's drain): a stored result is decoded once, not at
// every read — a batch member's result carries the batch document and
// every input's signature, and the nodes decoded each again for every
// status message, view and plan lookup of every member. Reads of the same
// stored bytes allocate what the caller's own copy needs, not a JSON
// decoding (on the old code: hundreds of allocations per read); a result
// stored anew is read as stored, and a caller changing its copy changes
// nothing stored (../shared/SECURITY.md scenario 9: a node's record of signatures
// is what it verified and stored).
func TestStoredResultDecodedOnce(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "store.db"), custody.Exchange)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &Service{st: st, clock: custody.NewRealClock()}
	res := Result{Coordinator: "custodian", Signers: []custody.Party{"custodian", "exchange"}, Complete: true,
		Batch: &BatchRef{ID: "b", Doc: []byte(`{"batch":1}`)}}
	for i := range 50 {
		res.Signatures = append(res.Signatures, Signature{R: big.NewInt(int64(i + 1)), S: big.NewInt(int64(i + 2)), Digest: [32]byte{byte(i)}})
		res.Inputs = append(res.Inputs, custody.Input{TxID: "aa", Vout: uint32(i), Value: 1000})
	}
	req := custody.Request{Kind: custody.KindRelease, IdempotencyKey: "k1",
		Requester: custody.Requester{Party: custody.Exchange, Caller: "ops"},
		Account:   "acct-1", KeyID: "vault-1", Asset: "BTC", Destination: "bc1qowner", Amount: 1000, FeeRate: 5,
		CreatedAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	e, _, err := st.Propose(req, req.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	id := e.Request.ID()
	if err := s.putResult(id, res); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.resultLocked(id); !ok || len(got.Signatures) != 50 || got.Signatures[7].R.Int64() != 8 {
		t.Fatalf("first read: %v %+v", ok, got)
	}
	allocs := testing.AllocsPerRun(20, func() { s.resultLocked(id) })
	if allocs > 30 {
		t.Errorf("a read of an unchanged result: %.0f allocations, want a copy's few (≤ 30), not a decoding", allocs)
	}
	got, _ := s.resultLocked(id)
	got.Signatures[0] = Signature{}
	got.Inputs[0].Vout = 99
	if again, _ := s.resultLocked(id); again.Signatures[0].R == nil || again.Inputs[0].Vout != 0 {
		t.Errorf("a caller's change to its copy shows in the next read: %+v", again.Signatures[0])
	}
	res.Signatures = res.Signatures[:3]
	res.Complete = false
	if err := s.putResult(id, res); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.resultLocked(id); len(again.Signatures) != 3 || again.Complete {
		t.Errorf("a result stored anew reads as the old one: %d signatures, complete %v", len(again.Signatures), again.Complete)
	}
}
