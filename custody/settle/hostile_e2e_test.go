package settle_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
)

// inflating is a hostile coordinator's coin choice: the coins are real,
// but it claims a higher value for the first, and checks nothing. A
// transaction signed over the claimed value would pay the difference to
// miners (BIP143 commits to it).
type inflating struct{ service.Chain }

func (l inflating) Plan(ctx context.Context, req custody.Request, held func([]custody.Input) ([]custody.Input, error)) (custody.Request, error) {
	req, err := l.Chain.Plan(ctx, req, held)
	if err == nil && len(req.Inputs) > 0 {
		req.Inputs[0].Value += 90_000_000
	}
	return req, err
}

func (inflating) Check(context.Context, custody.Request) error { return nil }

// ../shared/SECURITY.md scenario 26 (issue 10 item 2): a hostile peer coordinates a release with
// a plan whose input value differs from the chain. The honest partner
// looks the coin up on its own Bitcoin node and refuses; nothing is signed
// and nothing reaches the chain.
func TestHostilePlanRefusedRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t)
	chain := regtest(ctx, t, w.pool)
	c, _ := settledClusterWith(t, w, chain.Client, func(p custody.Party, o *service.Options) {
		if p == custody.Custodian { // the coordinator of releases
			o.Coins = inflating{o.Coins}
		}
	})
	v := submitApprovedRelease(ctx, t, c, nil, release(w, 10*btcutil.SatoshiPerBitcoin, 2), "hostile")
	got := c.WaitFor(t, custody.Custodian, v.ID, "the partner's refusal", func(v service.View) bool {
		return v.Attempts >= 1 && v.Result == nil && v.Status != custody.StatusSigning && strings.Contains(v.Reason, "signing digest")
	})
	if e, _ := c.Svc(custody.Exchange).Get(v.ID); e.Result != nil || e.Status == custody.StatusSigned || e.Status == custody.StatusDone {
		t.Fatalf("the honest exchange signed: %s %+v", e.Status, e.Result)
	}
	c.Tick()
	chain.Generate(t, 1)
	if b := balanceOf(ctx, t, chain, w.client); b != 0 {
		t.Fatalf("a transaction with the inflated input reached the chain: client holds %d (%s)", b, got.Reason)
	}
	// The coordinator's incident names the honest partner's reason.
	found := false
	for _, in := range c.Members[custody.Custodian].Node.Incidents() {
		found = found || strings.Contains(in.Error, "input differs from this node's bitcoin node") && strings.Contains(in.Error, "value")
	}
	if !found {
		t.Fatalf("no incident names the inflated input: %+v", c.Members[custody.Custodian].Node.Incidents())
	}
}
