package evm_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/evm/gethtest"
	"github.com/triad-custody/triad/custody/store"
	"github.com/triad-custody/triad/tss/fixtures"
)

var _ evm.NonceStore = (*store.Store)(nil)

func storedNonces(s *store.Store) evm.StoredNonces {
	return evm.StoredNonces{Store: s, ChainID: gethtest.ChainID, IsHeld: func(err error) bool { return errors.Is(err, store.ErrNonceHeld) }}
}

// proposeRelease stores a release of acct-1 in s and returns its ID.
func proposeRelease(t *testing.T, s *store.Store, key, to string) string {
	t.Helper()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e, _, err := s.Propose(custody.Request{Kind: custody.KindRelease, IdempotencyKey: key,
		Requester: custody.Requester{Party: custody.Exchange, Caller: "test"}, Account: "acct-1", KeyID: fixtures.KeyID,
		ChildPath: "m/0/7", Asset: "TUSD", Destination: to, Amount: 1_000_000, FeeRate: 1, CreatedAt: now}, now)
	if err != nil {
		t.Fatal(err)
	}
	return e.Request.ID()
}

// TestStoredNonceClash: the nonce a signer held for one open request is
// kept in its store (custody/store) across a restart and refused to a
// second request; once the first request ends unpaid, the nonce is free
// (../shared/SECURITY.md scenario 27: one nonce, one open request).
func TestStoredNonceClash(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "custody.db")
	st, err := store.Open(path, custody.Exchange)
	if err != nil {
		t.Fatal(err)
	}
	idA, idB := proposeRelease(t, st, "a", e.owner.Hex()), proposeRelease(t, st, "b", e.owner.Hex())
	a, b := release(idA, e.owner.Hex(), "1"), release(idB, e.owner.Hex(), "1")
	pa := e.plan(ctx, t, a)
	signer := e.node(t, e.cfg, e.party, nil)
	signer.Nonces = storedNonces(st)
	if _, err := signer.Authorize(ctx, a, pa); err != nil {
		t.Fatal(err)
	}
	// The coordinator's own store: a second request plans the next nonce.
	if pb, err := signer.Plan(ctx, b); err != nil || pb.Nonce != pa.Nonce+1 {
		t.Fatalf("plan of b: %+v %v; want nonce %d", pb, err, pa.Nonce+1)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err = store.Open(path, custody.Exchange); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	signer.Nonces = storedNonces(st)
	clash := clonePlan(pa)
	clash.Request = idB
	if _, err := signer.Authorize(ctx, b, clash); evm.ReasonOf(err) != evm.ReasonNonceHeld {
		t.Fatalf("b at a's nonce after a restart: %v, want %s", err, evm.ReasonNonceHeld)
	}
	for _, ev := range []custody.EventType{custody.EvApprove, custody.EvBegin, custody.EvAbort, custody.EvFail} {
		if _, err := st.Apply(idA, custody.Event{Type: ev, At: time.Now(), MaxAttempts: 3}, -1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := signer.Authorize(ctx, b, clash); err != nil {
		t.Fatalf("b at the nonce of a failed request: %v", err)
	}
}
