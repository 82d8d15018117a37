package store_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/store"
)

func applyAll(t *testing.T, s *store.Store, id string, evs ...custody.EventType) {
	t.Helper()
	for _, ev := range evs {
		if _, err := s.Apply(id, custody.Event{Type: ev, At: t0, MaxAttempts: 3}, -1); err != nil {
			t.Fatal(err)
		}
	}
}

// ../shared/SECURITY.md scenario 27 for EVM accounts (issue 12): no two open
// requests hold one nonce of an account; a request holds one nonce (a
// replacement reuses it); a request that ends unpaid frees its nonce, a
// paid one keeps it; the holds survive a restart of the store.
func TestHoldNonce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "custody.db")
	s, err := store.Open(path, custody.Custodian)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range []string{"a", "b", "c"} {
		e, _, err := s.Propose(release(k, 1000), t0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.Request.ID())
	}
	a, b, c := ids[0], ids[1], ids[2]
	acct, other := [20]byte{1}, [20]byte{2}
	const chain = 1337
	if err := s.HoldNonce(chain, acct, 4, a); err != nil {
		t.Fatal(err)
	}
	if err := s.HoldNonce(chain, acct, 4, a); err != nil {
		t.Fatalf("the same hold again: %v", err)
	}
	if err := s.HoldNonce(chain, acct, 4, b); !errors.Is(err, store.ErrNonceHeld) {
		t.Fatalf("b on a's nonce: %v", err)
	}
	if err := s.HoldNonce(chain, acct, 5, a); !errors.Is(err, store.ErrNonceHeld) {
		t.Fatalf("a at a second nonce: %v", err)
	}
	// Another account or chain is another nonce.
	if err := s.HoldNonce(chain, other, 4, b); err != nil {
		t.Fatal(err)
	}
	if id, ok, err := s.NonceHolder(chain+1, acct, 4); err != nil || ok {
		t.Fatalf("holder on another chain: %q %v %v", id, ok, err)
	}
	if free, end, err := s.NextNonce(chain, acct, 4); err != nil || free != 5 || end != 5 {
		t.Fatalf("next from 4: %d %d %v, want 5 5", free, end, err)
	}
	if free, end, err := s.NextNonce(chain, acct, 2); err != nil || free != 2 || end != 5 {
		t.Fatalf("next from 2: %d %d %v, want 2 5", free, end, err)
	}
	// Restart: the holds are on disk.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = store.Open(path, custody.Custodian); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if id, ok, err := s.NonceHolder(chain, acct, 4); err != nil || !ok || id != a {
		t.Fatalf("after restart: holder %q %v %v", id, ok, err)
	}
	if n, ok, err := s.NonceHeldBy(chain, acct, a); err != nil || !ok || n != 4 {
		t.Fatalf("after restart: a holds %d %v %v", n, ok, err)
	}
	// a fails: its nonce is free for c. b is paid: its nonce stays held.
	applyAll(t, s, a, custody.EvApprove, custody.EvBegin, custody.EvAbort, custody.EvFail)
	applyAll(t, s, b, custody.EvApprove, custody.EvBegin, custody.EvSigned, custody.EvDone)
	if _, ok, _ := s.NonceHeldBy(chain, acct, a); ok {
		t.Fatal("a failed request still holds its nonce")
	}
	if err := s.HoldNonce(chain, acct, 4, c); err != nil {
		t.Fatalf("nonce of a failed request: %v", err)
	}
	if err := s.HoldNonce(chain, acct, 4, a); err == nil {
		t.Fatal("a failed request took a nonce again")
	}
	if err := s.ReleaseNonce(c); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.NonceHolder(chain, acct, 4); ok {
		t.Fatal("a released nonce is still held")
	}
	if err := s.HoldNonce(chain, other, 4, c); !errors.Is(err, store.ErrNonceHeld) {
		t.Fatalf("nonce of a paid request: %v", err)
	}
}

// Many requests racing for one nonce: exactly one holds it.
func TestHoldNonceRace(t *testing.T) {
	s := newStore(t)
	if won := raceProposed(t, s, "n", func(id string) error {
		return s.HoldNonce(1, [20]byte{9}, 0, id)
	}, store.ErrNonceHeld); won != 1 {
		t.Fatalf("%d requests hold one nonce", won)
	}
}

// TestReplaceNonce (issue 12, ../shared/SECURITY.md scenario 27): a replacement
// takes over the nonce of the request whose transaction is stuck, and
// only that nonce: not one another request holds, not a free one, not a
// second nonce of its own.
func TestReplaceNonce(t *testing.T) {
	s := newStore(t)
	acct := [20]byte{7}
	propose := func(k string) string {
		e, _, err := s.Propose(release(k, 1000), t0)
		if err != nil {
			t.Fatal(err)
		}
		return e.Request.ID()
	}
	stuck, repl, other := propose("stuck"), propose("repl"), propose("other")
	if err := s.HoldNonce(1, acct, 5, stuck); err != nil {
		t.Fatal(err)
	}
	if err := s.HoldNonce(1, acct, 6, other); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		nonce uint64
		old   string
	}{
		"a nonce another request holds": {6, stuck},
		"naming another holder":         {5, other},
		"a free nonce":                  {9, stuck},
	} {
		if err := s.ReplaceNonce(1, acct, c.nonce, c.old, repl); !errors.Is(err, store.ErrNonceHeld) {
			t.Errorf("%s: %v, want %v", name, err, store.ErrNonceHeld)
		}
	}
	if err := s.ReplaceNonce(1, acct, 5, stuck, repl); err != nil {
		t.Fatal(err)
	}
	if id, ok, err := s.NonceHolder(1, acct, 5); err != nil || !ok || id != repl {
		t.Fatalf("nonce 5 held by %.12s %v %v, want the replacement", id, ok, err)
	}
	if err := s.ReplaceNonce(1, acct, 6, other, repl); !errors.Is(err, store.ErrNonceHeld) {
		t.Fatalf("a second nonce for the replacement: %v", err)
	}
	if err := s.HoldNonce(1, acct, 5, stuck); !errors.Is(err, store.ErrNonceHeld) {
		t.Fatalf("the stuck request takes its nonce back: %v", err)
	}
}
