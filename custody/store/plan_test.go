package store_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/store"
)

func input(n int) custody.Input {
	return custody.Input{TxID: fmt.Sprintf("%064x", n), Vout: uint32(n % 3), Value: 10_000}
}

// ../shared/SECURITY.md scenario 27 (issue 9 item 2): no two open requests hold the same
// outpoint. Reservation is atomic; a conflicting request is refused with
// the holder's ID; a request that ends unpaid releases its coins, a paid
// one keeps them; a plan this node signed for is never replaced.
func TestReserveOutpoints(t *testing.T) {
	s := newStore(t)
	a, _, err := s.Propose(release("a", 1000), t0)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.Propose(release("b", 1000), t0)
	if err != nil {
		t.Fatal(err)
	}
	ida, idb := a.Request.ID(), b.Request.ID()
	if err := s.Reserve(ida, []custody.Input{input(1), input(2)}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(idb, []custody.Input{input(2), input(3)}, false); !errors.Is(err, store.ErrReserved) {
		t.Fatalf("second request on a held coin: %v", err)
	}
	if p, ok, _ := s.PlanOf(idb); ok {
		t.Fatalf("a refused reservation left a plan: %+v", p)
	}
	if held, err := s.Reserved(idb, []custody.Input{input(1), input(3)}); err != nil || len(held) != 1 || held[0] != input(1) {
		t.Fatalf("reserved: %v %v", held, err)
	}
	// An unlocked plan may change; its old coins are freed.
	if err := s.Reserve(ida, []custody.Input{input(4)}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(idb, []custody.Input{input(1), input(2)}, false); err != nil {
		t.Fatalf("coins of a replaced plan: %v", err)
	}
	// A locked plan never changes.
	if err := s.Reserve(ida, []custody.Input{input(5)}, false); !errors.Is(err, store.ErrPlanLocked) {
		t.Fatalf("replacing a locked plan: %v", err)
	}
	if err := s.Reserve(ida, []custody.Input{input(4)}, false); err != nil {
		t.Fatalf("the same plan again: %v", err)
	}
	if p, _, _ := s.PlanOf(ida); !p.Locked {
		t.Fatal("the same plan again unlocked it")
	}
	// b fails: its coins are free again. a is paid: its coin stays held.
	for _, ev := range []custody.EventType{custody.EvApprove, custody.EvBegin, custody.EvAbort, custody.EvFail} {
		if _, err := s.Apply(idb, custody.Event{Type: ev, At: t0, MaxAttempts: 3}, -1); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []custody.EventType{custody.EvApprove, custody.EvBegin, custody.EvSigned, custody.EvDone} {
		if _, err := s.Apply(ida, custody.Event{Type: ev, At: t0, MaxAttempts: 3}, -1); err != nil {
			t.Fatal(err)
		}
	}
	c, _, err := s.Propose(release("c", 1000), t0)
	if err != nil {
		t.Fatal(err)
	}
	idc := c.Request.ID()
	if err := s.Reserve(idc, []custody.Input{input(4)}, false); !errors.Is(err, store.ErrReserved) {
		t.Fatalf("coin of a paid request: %v", err)
	}
	if err := s.Reserve(idc, []custody.Input{input(1), input(2)}, false); err != nil {
		t.Fatalf("coins of a failed request: %v", err)
	}
	if _, ok, _ := s.PlanOf(idb); ok {
		t.Fatal("a failed request kept its plan")
	}
}

// Many requests racing for one coin: exactly one holds it.
func TestReserveRace(t *testing.T) {
	s := newStore(t)
	if won := raceProposed(t, s, "r", func(id string) error {
		return s.Reserve(id, []custody.Input{input(9)}, false)
	}, store.ErrReserved); won != 1 {
		t.Fatalf("%d requests hold one coin", won)
	}
}

// The ID is the caller's content: a stored request never carries a plan,
// and the same request with coins named is the same request.
func TestProposeStoresNoPlan(t *testing.T) {
	s := newStore(t)
	r := release("p", 1000)
	e, created, err := s.Propose(r.WithInputs([]custody.Input{input(1)}), t0)
	if err != nil || !created || len(e.Request.Inputs) != 0 {
		t.Fatalf("stored %+v, %v", e.Request.Inputs, err)
	}
	again, created, err := s.Propose(r, t0)
	if err != nil || created || again.Request.ID() != e.Request.ID() {
		t.Fatalf("repeat: created %v, %v", created, err)
	}
}

// ../shared/SECURITY.md scenario 27 (issue 12): a request paid on an EVM chain has
// one plan at a node as a Bitcoin one does: the same plan again is no
// change, an unlocked plan may be replaced, a plan this node signed for
// (locked) never is, and a request that ended holds no new plan.
func TestPlanEVM(t *testing.T) {
	s := newStore(t)
	a, _, err := s.Propose(release("evm-a", 1000), t0)
	if err != nil {
		t.Fatal(err)
	}
	id := a.Request.ID()
	p1 := custody.EVMPlan{ChainID: 1337, Nonce: 4, Gas: 60_000, MaxFeePerGas: "2000000000", MaxPriorityFeePerGas: "1000000000"}
	p2 := p1
	p2.MaxFeePerGas = "3000000000"
	if err := s.PlanEVM(id, p1, false); err != nil {
		t.Fatal(err)
	}
	if err := s.PlanEVM(id, p2, false); err != nil {
		t.Fatalf("replacing an unlocked plan: %v", err)
	}
	if err := s.PlanEVM(id, p2, true); err != nil {
		t.Fatal(err)
	}
	if err := s.PlanEVM(id, p1, false); !errors.Is(err, store.ErrPlanLocked) {
		t.Fatalf("replacing a locked EVM plan: %v", err)
	}
	if err := s.Reserve(id, []custody.Input{input(7)}, false); !errors.Is(err, store.ErrPlanLocked) {
		t.Fatalf("coins in place of a locked EVM plan: %v", err)
	}
	if err := s.PlanEVM(id, p2, false); err != nil {
		t.Fatalf("the same plan again: %v", err)
	}
	got, ok, err := s.PlanOf(id)
	if err != nil || !ok || got.EVM == nil || *got.EVM != p2 || !got.Locked || len(got.Inputs) != 0 {
		t.Fatalf("plan: %+v %v %v", got, ok, err)
	}
}
