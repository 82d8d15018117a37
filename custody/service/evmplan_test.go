package service_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// evmCoins is a node's EVM chain boundary as the service sees it
// (settle.Chains over evm.Chain): releases are paid on an EVM chain, the
// coordinator plans nonce 7, and a node whose own chain view disagrees
// refuses the plan.
type evmCoins struct {
	mu     sync.Mutex
	refuse bool
	checks int
}

var errOwnView = errors.New("evm: refused (balance): this node's EVM node disagrees")

func (e *evmCoins) Hold(custody.Request) error   { return nil }
func (e *evmCoins) Batches(custody.Request) bool { return false } // an EVM transfer is signed on its own
func (e *evmCoins) Pays(req custody.Request) bool {
	return req.Kind == custody.KindRelease || req.Kind == custody.KindLiquidation
}

func (e *evmCoins) Plan(_ context.Context, req custody.Request, _ func([]custody.Input) ([]custody.Input, error)) (custody.Request, error) {
	return req.WithEVMPlan(&custody.EVMPlan{ChainID: 1337, Nonce: 7, Gas: 60_000, MaxFeePerGas: "2000000000", MaxPriorityFeePerGas: "1000000000"}), nil
}

func (e *evmCoins) Check(_ context.Context, req custody.Request) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.checks++
	switch {
	case req.EVM == nil:
		return fmt.Errorf("%w: no EVM plan", service.ErrNoPlan)
	case e.refuse:
		return errOwnView
	}
	return nil
}

func (e *evmCoins) checked() int { e.mu.Lock(); defer e.mu.Unlock(); return e.checks }

// evmDigester signs a digest of the request and its EVM plan (the EVM
// signer hash stands here): a node that did not get the plan computes none.
func evmDigester(req custody.Request) ([][32]byte, error) {
	if req.EVM == nil {
		return service.DefaultDigester(req)
	}
	return [][32]byte{sha256.Sum256(fmt.Appendf(req.Canonical(), "|%d|%d", req.EVM.ChainID, req.EVM.Nonce))}, nil
}

func evmCluster(t *testing.T, refusing ...custody.Party) (*st.Cluster, map[custody.Party]*evmCoins) {
	coins := map[custody.Party]*evmCoins{}
	c := st.New(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		o.Batcher = service.InterimBatcher{} // Bitcoin liquidations would wait for a batch
		coins[p] = &evmCoins{}
		for _, r := range refusing {
			coins[p].refuse = coins[p].refuse || r == p
		}
		o.Coins, o.Digester = coins[p], evmDigester
	}})
	return c, coins
}

func approveBoth(t *testing.T, c *st.Cluster, v service.View) {
	t.Helper()
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		c.WaitFor(t, p, v.ID, "stored", func(service.View) bool { return true })
		if _, err := c.Svc(p).Endorse(ctx, c.Approval(p, v, custody.Approve, "evm")); err != nil {
			t.Fatal(err)
		}
	}
}

// ../shared/SECURITY.md scenario 27 (issue 12): a request paid on an EVM chain is
// planned by its coordinator (nonce, fees, gas; not coins), the plan is
// stored and locked at every signer, travels with the signature, and
// every partner checked it on its own chain before it joined.
func TestEVMPlanTravels(t *testing.T) {
	c, coins := evmCluster(t)
	v, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), st.Release("evm-1", 1_000_000))
	if err != nil {
		t.Fatal(err)
	}
	approveBoth(t, c, v)
	done := c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
	if done.Result == nil || done.Result.EVM == nil || done.Result.EVM.Nonce != 7 || len(done.Result.Inputs) != 0 {
		t.Fatalf("done without its EVM plan: %+v", done.Result)
	}
	partner := done.Result.Signers[0]
	if partner == custody.Custodian {
		partner = done.Result.Signers[1]
	}
	if coins[partner].checked() == 0 {
		t.Fatalf("%s joined without checking the EVM plan on its own chain", partner)
	}
	for _, p := range []custody.Party{custody.Custodian, partner} {
		plan, ok, err := c.Svc(p).Store().PlanOf(v.ID)
		if err != nil || !ok || plan.EVM == nil || *plan.EVM != *done.Result.EVM || !plan.Locked {
			t.Fatalf("%s: plan %+v %v %v", p, plan, ok, err)
		}
	}
	// A caller may not bring its own EVM plan.
	bad := st.Release("evm-2", 1000).WithEVMPlan(done.Result.EVM)
	if _, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), bad); !errors.Is(err, custody.ErrMalformed) {
		t.Fatalf("a caller's EVM plan: %v", err)
	}
}

// ../shared/SECURITY.md scenario 27 (issue 12): partners whose own chain view
// disagrees with the coordinator's EVM plan refuse it: nothing is signed
// and no partner locks the plan.
func TestEVMPlanRefusedByOwnView(t *testing.T) {
	c, coins := evmCluster(t, custody.Exchange, custody.Regulator)
	v, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), st.Release("evm-refused", 1_000_000))
	if err != nil {
		t.Fatal(err)
	}
	approveBoth(t, c, v)
	got := c.WaitFor(t, custody.Custodian, v.ID, "an attempt refused", func(v service.View) bool {
		return v.Attempts > 0 && strings.Contains(v.Reason, "refuses") &&
			coins[custody.Exchange].checked()+coins[custody.Regulator].checked() > 0
	})
	if got.Result != nil || got.Status == custody.StatusDone {
		t.Fatalf("signed over a refused EVM plan: %+v", got.Result)
	}
	for _, p := range []custody.Party{custody.Exchange, custody.Regulator} {
		if g, err := c.Svc(p).Get(v.ID); err != nil || g.Result != nil {
			t.Fatalf("%s: %+v %v", p, g.Result, err)
		}
		if plan, ok, _ := c.Svc(p).Store().PlanOf(v.ID); ok && plan.Locked {
			t.Fatalf("%s locked a plan it refused: %+v", p, plan)
		}
	}
}

// Issue 12: a liquidation paid on an EVM chain is signed on its own, never
// queued for a Bitcoin liquidation batch: with a Batcher and no batch
// window passed, it is done, with its EVM plan and no batch.
func TestEVMLiquidationNotBatched(t *testing.T) {
	c, _ := evmCluster(t)
	v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), st.Liquidation("evm-liq", 100_000, st.MarginKey(), st.Epoch))
	if err != nil {
		t.Fatal(err)
	}
	done := c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
	if done.Result == nil || done.Result.Batch != nil || done.Result.EVM == nil {
		t.Fatalf("an EVM liquidation: %+v", done.Result)
	}
}
