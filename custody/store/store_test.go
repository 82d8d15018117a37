package store_test

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/custody/store"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func seedKey(name string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("triad-test/" + name))
	return ed25519.NewKeyFromSeed(s[:])
}

func release(idem string, amount uint64) custody.Request {
	return custody.Request{
		Kind: custody.KindRelease, IdempotencyKey: idem,
		Requester: custody.Requester{Party: custody.Exchange, Caller: "margin-engine"},
		Account:   "acct-1", KeyID: "vault-1", Asset: "BTC", Destination: "bc1qowner", Amount: amount, FeeRate: 5, CreatedAt: t0,
	}
}

func liquidation(idem, nonce string) custody.Request {
	r := release(idem, 1000)
	r.Kind = custody.KindLiquidation
	m := custody.SignMarginCall(custody.MarginCall{Account: "acct-1", Asset: "BTC", Shortfall: 2000, Exposure: 10, Price: 1,
		Collateral: []custody.Holding{{Asset: "BTC", Value: 100}}, Time: t0, Nonce: nonce}, seedKey("margin-engine"))
	r.Evidence = &m
	return r
}

func open(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(path, custody.Custodian)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newStore(t *testing.T) *store.Store {
	s := open(t, filepath.Join(t.TempDir(), "custody.db"))
	t.Cleanup(func() { s.Close() })
	return s
}

func TestIdempotency(t *testing.T) {
	s := newStore(t)
	e1, created, err := s.Propose(release("k1", 100), t0)
	if err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	e2, created, err := s.Propose(release("k1", 100), t0.Add(time.Hour))
	if err != nil || created || e2.Request.ID() != e1.Request.ID() || !e2.Progress.Timeline.FirstSeen.Equal(t0) {
		t.Fatalf("same key, same body must return the stored request: %v %v", created, err)
	}
	if _, _, err := s.Propose(release("k1", 999), t0); !errors.Is(err, store.ErrIdempotencyConflict) {
		t.Fatalf("same key, different body: %v", err)
	}
	// The key is scoped by requester: another caller may use "k1".
	other := release("k1", 100)
	other.Requester.Caller = "ops"
	if _, created, err := s.Propose(other, t0); err != nil || !created {
		t.Fatalf("other caller: %v %v", created, err)
	}
	if _, _, err := s.Propose(custody.Request{}, t0); !errors.Is(err, custody.ErrMalformed) {
		t.Fatalf("invalid request stored: %v", err)
	}
	if _, err := s.Get("nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, _, err := s.Propose(liquidation("l1", "mc-1"), t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Propose(liquidation("l2", "mc-1"), t0); !errors.Is(err, store.ErrEvidenceReused) {
		t.Fatalf("evidence reuse: %v", err)
	}
}

func TestTransitionsCapsAndAudit(t *testing.T) {
	s := newStore(t)
	var ids []string
	for i := 0; i < 3; i++ {
		e, _, err := s.Propose(release(fmt.Sprint("k", i), 100), t0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.Request.ID())
	}
	ev := func(typ custody.EventType) custody.Event { return custody.Event{Type: typ, At: t0, MaxAttempts: 3} }
	for _, id := range ids[:2] {
		for _, typ := range []custody.EventType{custody.EvApprove, custody.EvBegin, custody.EvAbort, custody.EvBegin, custody.EvSigned} {
			if _, err := s.Apply(id, ev(typ), 2); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, _ := s.Settlements(custody.DayKey(t0)); n != 2 {
		t.Fatalf("a retried attempt must count once: %d settlements", n)
	}
	if _, err := s.Apply(ids[2], ev(custody.EvApprove), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ids[2], ev(custody.EvBegin), 2); !errors.Is(err, store.ErrDailyCap) {
		t.Fatalf("third settlement: %v", err)
	}
	e, _ := s.Get(ids[2])
	if e.Progress.Record.Status != custody.StatusApproved || e.Progress.Record.Attempts != 0 {
		t.Fatalf("a refused transition must change nothing: %+v", e.Progress.Record)
	}
	if _, err := s.Apply(ids[0], ev(custody.EvBegin), -1); !errors.Is(err, custody.ErrIllegalTransition) {
		t.Fatalf("signed request re-entered signing: %v", err)
	}
	if err := s.Audit().Verify(); err != nil {
		t.Fatal(err)
	}
	head, _ := s.Audit().Head()
	// 3 requests + 2×5 transitions + 1 approve = 14; refused ones leave nothing.
	if head.Seq != 14 {
		t.Fatalf("audit head %d", head.Seq)
	}
	_, st, err := s.State(ids[2], t0)
	if err != nil || st.Settlements[custody.DayKey(t0)] != 2 || st.Record.Status != custody.StatusApproved {
		t.Fatalf("state: %+v %v", st, err)
	}
	// A drill on a canary key (Uncapped) begins past the cap and is not
	// counted.
	drill := ev(custody.EvBegin)
	drill.Uncapped = true
	if _, err := s.Apply(ids[2], drill, 2); err != nil {
		t.Fatalf("uncapped begin past the cap: %v", err)
	}
	if n, _ := s.Settlements(custody.DayKey(t0)); n != 2 {
		t.Fatalf("an uncapped begin was counted: %d settlements", n)
	}
}

func TestApprovalsNoncesAndWitness(t *testing.T) {
	s := newStore(t)
	e, _, _ := s.Propose(release("k", 100), t0)
	id := e.Request.ID()
	a := custody.SignApproval(custody.Approval{RequestID: id, Kind: custody.KindRelease, Stance: custody.Approve, Party: custody.Exchange,
		Operator: "bob", Nonce: "nonce-000000000001", IssuedAt: t0, Expires: t0.Add(time.Minute)}, seedKey("operator/exchange/bob"))
	if _, err := s.AddApproval(id, a, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddApproval(id, a, t0); !errors.Is(err, custody.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	v := a
	v.Stance, v.Nonce = custody.Veto, "nonce-000000000002"
	if _, err := s.AddApproval(id, v, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddApproval("other", v, t0); !errors.Is(err, custody.ErrMismatch) {
		t.Fatalf("wrong request: %v", err)
	}
	if _, err := s.AddAutoApproval(id, custody.Custodian, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Witness(3 * time.Hour); err != nil {
		t.Fatal(err)
	}
	e, _ = s.Get(id)
	if len(e.Progress.Approvals) != 2 || !e.Progress.Approvals[custody.Custodian].Auto || len(e.Progress.Vetoes) != 1 || e.Progress.Timeline.Witnessed != 3*time.Hour {
		t.Fatalf("progress %+v", e.Progress)
	}
	// The signed approval and veto are kept as signed (the automatic
	// approval has no signature to keep), for offering to peers.
	signed, err := s.SignedApprovals(id)
	if err != nil || len(signed) != 2 || signed[0].Stance != custody.Approve || signed[1].Stance != custody.Veto ||
		string(signed[0].Signature) != string(a.Signature) || signed[1].Nonce != v.Nonce {
		t.Fatalf("signed approvals %+v, %v", signed, err)
	}
	if other, err := s.SignedApprovals("other"); err != nil || len(other) != 0 {
		t.Fatalf("another request's signed approvals: %+v, %v", other, err)
	}
	if n, err := s.PruneNonces(t0.Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("pruned %d %v", n, err)
	}
	if err := s.UseNonce(custody.Exchange, "nonce-000000000001", t0); err != nil {
		t.Fatalf("pruned nonce: %v", err)
	}
	recs, _ := s.Audit().Records(1, 0)
	kinds := []string{}
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
	}
	if strings.Join(kinds, ",") != "request,approval,veto,approval" {
		t.Fatalf("audit kinds %v", kinds)
	}
	open, _ := s.Pending()
	if len(open) != 1 {
		t.Fatalf("open requests %d", len(open))
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "custody.db")
	s := open(t, path)
	e, _, _ := s.Propose(release("k", 100), t0)
	s.Apply(e.Request.ID(), custody.Event{Type: custody.EvApprove, At: t0}, 2)
	s.Close()
	s = open(t, path)
	defer s.Close()
	got, err := s.Get(e.Request.ID())
	if err != nil || got.Progress.Record.Status != custody.StatusApproved {
		t.Fatalf("after reopen: %+v %v", got.Progress.Record, err)
	}
	if err := s.Audit().Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestKill9 runs a child process that proposes and advances requests in a
// loop, reporting each committed request on stdout; the parent SIGKILLs it
// mid-stream, reopens the file and checks that every reported request is
// there, nothing is half-written and the audit chain verifies.
func TestKill9(t *testing.T) {
	if os.Getenv("TRIAD_STORE_CHILD") != "" {
		childLoop(os.Getenv("TRIAD_STORE_CHILD"))
		return
	}
	path := filepath.Join(t.TempDir(), "custody.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), "TRIAD_STORE_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var committed []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(committed) < 40 {
		if id, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
			committed = append(committed, id)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(committed) < 40 {
		t.Fatalf("child reported only %d commits", len(committed))
	}
	s := open(t, path)
	defer s.Close()
	for _, id := range committed {
		e, err := s.Get(id)
		if err != nil {
			t.Fatalf("committed request lost: %v", err)
		}
		if e.Progress.Record.Status != custody.StatusSigning || e.Progress.Record.Attempts != 1 {
			t.Fatalf("committed request %.12s in %s", id, e.Progress.Record.Status)
		}
	}
	if err := s.Audit().Verify(); err != nil {
		t.Fatal(err)
	}
	// The idempotency index survived: the same key gives the same request.
	if e, created, err := s.Propose(release("kill-0", 1), t0); err != nil || created || e.Request.ID() != committed[0] {
		t.Fatalf("idempotency after kill: %v %v", created, err)
	}
}

func childLoop(path string) {
	s, err := store.Open(path, custody.Custodian)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		e, _, err := s.Propose(release(fmt.Sprint("kill-", i), uint64(i+1)), t0)
		if err == nil {
			_, err = s.Apply(e.Request.ID(), custody.Event{Type: custody.EvApprove, At: t0}, -1)
		}
		if err == nil {
			_, err = s.Apply(e.Request.ID(), custody.Event{Type: custody.EvBegin, At: t0}, -1)
		}
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("committed", e.Request.ID())
	}
}

// Two nodes' stores record the same shared facts; reconciliation of their
// audit chains agrees until one node misses an approval.
func TestReconcileTwoNodes(t *testing.T) {
	a, b := newStore(t), newStore(t)
	req := release("k", 100)
	ap := custody.SignApproval(custody.Approval{RequestID: req.ID(), Kind: req.Kind, Stance: custody.Approve, Party: custody.Exchange,
		Operator: "bob", Nonce: "nonce-000000000001", IssuedAt: t0, Expires: t0.Add(time.Minute)}, seedKey("operator/exchange/bob"))
	for i, s := range []*store.Store{a, b} {
		at := t0.Add(time.Duration(i) * time.Second) // clocks differ
		s.Propose(req, at)
		s.AddApproval(req.ID(), ap, at)
		s.Apply(req.ID(), custody.Event{Type: custody.EvApprove, At: at}, 2)
	}
	ra, _ := a.Audit().Records(1, 0)
	rb, _ := b.Audit().Records(1, 0)
	if rep := audit.Reconcile(ra, rb, audit.ReconcileOptions{}); !rep.OK() || rep.Compared != 2 {
		t.Fatalf("agreeing nodes: %+v", rep)
	}
	a.AddAutoApproval(req.ID(), custody.Custodian, t0)
	ra, _ = a.Audit().Records(1, 0)
	rep := audit.Reconcile(ra, rb, audit.ReconcileOptions{})
	if rep.OK() || len(rep.Mismatches) != 1 || rep.Mismatches[0].Party != "custodian" {
		t.Fatalf("missing approval not reported: %+v", rep)
	}
}

// raceProposed proposes 16 releases (idempotency keys prefix0…prefix15),
// runs take for each of them at once and counts the calls that succeed;
// any error but lost fails the test.
func raceProposed(t *testing.T, s *store.Store, prefix string, take func(id string) error, lost error) int {
	t.Helper()
	var ids []string
	for i := range 16 {
		e, _, err := s.Propose(release(fmt.Sprintf("%s%d", prefix, i), 1000), t0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.Request.ID())
	}
	var wg sync.WaitGroup
	var won atomic.Int32
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := take(id)
			if err != nil && !errors.Is(err, lost) {
				t.Error(err)
			}
			if err == nil {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(won.Load())
}
