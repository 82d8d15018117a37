package service_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// flakyChain is a node's coins behind a Bitcoin node that is down until
// it is brought up: choosing coins fails with its unavailability.
type flakyChain struct {
	mu     sync.Mutex
	up     bool
	chose  int
	checks int
}

var errBusy = errors.New("bitcoin node unavailable: HTTP 503: \"503 Too busy\"")

func (f *flakyChain) setUp() { f.mu.Lock(); f.up = true; f.mu.Unlock() }

func (f *flakyChain) Pays(req custody.Request) bool { return req.Kind == custody.KindRelease }
func (f *flakyChain) Hold(custody.Request) error    { return nil }
func (f *flakyChain) Batches(custody.Request) bool  { return true }

func (f *flakyChain) Plan(_ context.Context, req custody.Request, reserved func([]custody.Input) ([]custody.Input, error)) (custody.Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.up {
		return req, fmt.Errorf("choosing coins: %w", errBusy)
	}
	f.chose++
	return req.WithInputs([]custody.Input{{TxID: strings.Repeat("ab", 32), Vout: 0, Value: 5_000_000}}), nil
}

func (f *flakyChain) Check(context.Context, custody.Request) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	if !f.up {
		return errBusy
	}
	return nil
}

// Issue 9 items 5 and 6: with the Bitcoin node down, a request is still
// stored and answered at once; approved, it waits for its coins, saying
// why, and spends no signing attempt and no daily settlement; once the
// node is back, the next tick plans, reserves and signs it, and the plan
// travels with the signature.
func TestChainDownRequestWaits(t *testing.T) {
	chains := map[custody.Party]*flakyChain{}
	c := st.New(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		chains[p] = &flakyChain{}
		o.Coins = chains[p]
	}})
	v, created, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), st.Release("down-1", 1_000_000))
	if err != nil || !created {
		t.Fatalf("submit with the bitcoin node down: %v %v", created, err)
	}
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		c.WaitFor(t, p, v.ID, "stored", func(service.View) bool { return true })
		if _, err := c.Svc(p).Endorse(ctx, c.Approval(p, v, custody.Approve, "down")); err != nil {
			t.Fatal(err)
		}
	}
	got := c.WaitFor(t, custody.Custodian, v.ID, "waiting for coins", func(v service.View) bool {
		return strings.Contains(v.Waiting, "503 Too busy")
	})
	if got.Status != custody.StatusApproved || got.Attempts != 0 || got.Result != nil {
		t.Fatalf("waiting for the bitcoin node: %s, %d attempts (%q, %v)", got.Status, got.Attempts, got.Waiting, got.Approvals)
	}
	if n, _ := c.Svc(custody.Custodian).Store().Settlements(custody.DayKey(c.Members[custody.Custodian].Clock.Now())); n != 0 {
		t.Fatalf("%d settlements counted while waiting for coins", n)
	}
	for _, ch := range chains {
		ch.setUp()
	}
	c.Tick()
	done := c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
	if len(done.Result.Inputs) != 1 || len(done.Request.Inputs) != 1 || done.Waiting != "" {
		t.Fatalf("done without its plan: result %+v request %+v waiting %q", done.Result.Inputs, done.Request.Inputs, done.Waiting)
	}
	// The partner checked the plan on its own chain before it joined.
	chains[custody.Exchange].mu.Lock()
	defer chains[custody.Exchange].mu.Unlock()
	if chains[custody.Exchange].checks == 0 {
		t.Fatal("the exchange joined without checking the plan on its own chain")
	}
}
