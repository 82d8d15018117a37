package service_test

import (
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// creditSource is a settable credit figure for the exchange's node.
type creditSource struct {
	mu    sync.Mutex
	facts custody.CreditFacts
}

func (s *creditSource) set(f custody.CreditFacts) { s.mu.Lock(); s.facts = f; s.mu.Unlock() }
func (s *creditSource) get(string, time.Time) custody.CreditFacts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.facts
}

func creditCluster(t *testing.T, src *creditSource) *st.Cluster {
	return st.New(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		if p == custody.Exchange {
			o.Credit = src.get
		}
	}})
}

// Issue 13, ../shared/SECURITY.md scenario 8: the exchange's node checks a
// liquidation's evidence against its own credit figure. A margin call on
// an account whose proven collateral still covers the exposure (5,000,000)
// is rejected with the reason; without a figure (no proof, a stale price)
// it waits, unsigned, and is signed once the figure shows the shortfall.
func TestLiquidationAgainstCredit(t *testing.T) {
	src := &creditSource{}
	src.set(custody.CreditFacts{Limit: big.NewInt(5_000_000)})
	c := creditCluster(t, src)
	req := st.Liquidation("liq-covered", 1_000_000, st.MarginKey(), st.Epoch.Add(-time.Minute))
	v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), req)
	if err != nil {
		t.Fatal(err)
	}
	got := c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusRejected)
	if !strings.Contains(got.Reason, custody.ReasonCreditCovers) {
		t.Fatalf("rejected for %q, want %s", got.Reason, custody.ReasonCreditCovers)
	}

	src.set(custody.CreditFacts{Unknown: "price stale"})
	req = st.Liquidation("liq-wait", 1_000_000, st.MarginKey(), st.Epoch.Add(-time.Minute))
	v, _, err = c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), req)
	if err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, custody.Exchange, v.ID, "a credit_unknown decision", func(v service.View) bool {
		return v.Decision != nil && v.Decision.Has(custody.ReasonCreditUnknown)
	})
	c.Tick()
	if now, _ := c.Svc(custody.Exchange).Get(v.ID); now.Status.Terminal() || now.Status == custody.StatusSigning || now.Attempts != 0 {
		t.Fatalf("a liquidation without a credit figure went on: %s, %d attempts (%s)", now.Status, now.Attempts, now.Reason)
	}
	src.set(custody.CreditFacts{Limit: big.NewInt(4_999_999)})
	c.Tick()
	c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusDone)
}
