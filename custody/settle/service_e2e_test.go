package settle_test

import (
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc/btcdtest"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/custody/store"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss"
)

// lazyKeys and lazyRecords reach a member's key store and custody store
// (its settlement records, stored requests and results), which the
// cluster makes after the service options are set.
type lazyKeys func() settle.KeyLoader

func (f lazyKeys) Load(ctx context.Context, id string) (*tss.KeyShare, error) {
	return f().Load(ctx, id)
}

type lazyRecords func() *store.Store

func (f lazyRecords) PutSettlement(id string, b []byte) error    { return f().PutSettlement(id, b) }
func (f lazyRecords) Settlement(id string) ([]byte, bool, error) { return f().Settlement(id) }
func (f lazyRecords) Get(id string) (store.Entry, error)         { return f().Get(id) }
func (f lazyRecords) Result(id string) ([]byte, bool, error)     { return f().Result(id) }

// settledCluster is servicetest's three-node cluster with the world's
// accounts and a settler as every node's Digester and Finalizer, against
// chain.
func settledCluster(t *testing.T, w world, chain settle.Chain) (*st.Cluster, map[custody.Party]*settle.Settler) {
	t.Helper()
	return settledClusterWith(t, w, chain, nil)
}

// settledClusterWith is settledCluster with adjust changing a party's
// service options after the settler is wired in (a hostile party), and
// more changing the cluster's options (hooks it sets run after these).
func settledClusterWith(t *testing.T, w world, chain settle.Chain, adjust func(custody.Party, *service.Options), more ...func(*st.Options)) (*st.Cluster, map[custody.Party]*settle.Settler) {
	t.Helper()
	return settledClusterNodes(t, w, chain, adjust, nil, more...)
}

// settledClusterNodes is settledClusterWith with wrapAuth wrapping the
// authorizer a party's node serves with (a dishonest one).
func settledClusterNodes(t *testing.T, w world, chain settle.Chain, adjust func(custody.Party, *service.Options), wrapAuth func(custody.Party, node.Authorizer) node.Authorizer, more ...func(*st.Options)) (*st.Cluster, map[custody.Party]*settle.Settler) {
	t.Helper()
	settlers := map[custody.Party]*settle.Settler{}
	var c *st.Cluster
	o := st.Options{
		Policy: func(p custody.Party, pol *custody.Policy) {
			pol.Accounts = w.policy.Accounts
			pol.Assets = w.policy.Assets
			pol.MaxFeeRate = w.policy.MaxFeeRate
			pol.AutoApprove = []custody.Kind{custody.KindLiquidation}
			pol.SettlementsPerDay = 10
		},
		Service: func(p custody.Party, o *service.Options) {
			s, err := settle.New(settle.Config{Network: network, Policy: o.Policy, Chain: chain, Broadcast: true,
				Keys:    lazyKeys(func() settle.KeyLoader { return c.Members[p].Keys }),
				Records: lazyRecords(func() *store.Store { return c.Svc(p).Store() })})
			if err != nil {
				t.Fatal(err)
			}
			o.Digester, o.Finalizer, o.Tracker = s.Digester(service.DefaultDigester), s.Finalizer(), s.Tracker()
			o.Coins = &settle.Chains{BTC: s, Policy: o.Policy}
			settlers[p] = s
			if adjust != nil {
				adjust(p, o)
			}
		},
		Authorizer: wrapAuth,
	}
	for _, f := range more {
		f(&o)
	}
	c = st.New(t, o)
	return c, settlers
}

// confirmPaid waits until request id is signed and its coordinator has
// broadcast the transaction; checks that no node calls it done before a
// block holds it (done means paid); mines a block; and waits until every
// party in parties records it done and every node's own Bitcoin view
// records one confirmation. It returns the coordinator's view.
func confirmPaid(ctx context.Context, t *testing.T, c *st.Cluster, chain interface{ Generate(testing.TB, uint32) }, settlers map[custody.Party]*settle.Settler, id string, parties ...custody.Party) service.View {
	t.Helper()
	v := c.WaitFor(t, custody.Custodian, id, "the result", func(v service.View) bool { return v.Result != nil && v.Result.Complete })
	coord := v.Result.Coordinator
	v = c.WaitFor(t, coord, id, "the broadcast", func(v service.View) bool { return v.Settlement != nil && v.Settlement.Broadcast })
	c.Tick()
	for _, p := range custody.Parties {
		if got, _ := c.Svc(p).Get(id); got.Status == custody.StatusDone {
			t.Fatalf("%s records %.12s done before any block holds its transaction", p, id)
		}
	}
	chain.Generate(t, 1)
	c.Tick()
	for _, p := range parties {
		v = c.WaitStatus(t, p, id, custody.StatusDone)
	}
	for p, s := range settlers {
		r, err := s.Refresh(ctx, v.Request)
		if err != nil || r.Confirmations != 1 {
			t.Fatalf("%s: %s record %+v, %v", p, v.Request.Kind, r, err)
		}
	}
	v, _ = c.Svc(coord).Get(id)
	return v
}

// The three actions through the custody service on three nodes: requests
// stored everywhere, each node's policy, operator approvals (automatic for
// the liquidation), the service's coordinator signing each input with the
// settler as every node's Digester, the coordinator's Finalizer
// finalising and broadcasting; then a block, the confirmation in every
// node's record, and the balances.
func TestServiceSettlementRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd and runs threshold signatures")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newWorld(t)
	chain := regtest(ctx, t, w.pool)
	c, settlers := settledCluster(t, w, chain.Client)

	// Collateral release of 60 BTC from the pool (two coins) into the
	// client's derived address: the custodian's node picks the coins,
	// both operators approve.
	v := submitApprovedRelease(ctx, t, c, settlers, release(w, 60*btcutil.SatoshiPerBitcoin, 4), "rel")
	done := confirmPaid(ctx, t, c, chain, settlers, v.ID, custody.Parties...)
	if len(done.Result.Signatures) != 2 {
		t.Fatalf("release: %d signatures", len(done.Result.Signatures))
	}
	if b := balanceOf(ctx, t, chain, w.client); b != 60*btcutil.SatoshiPerBitcoin {
		t.Fatalf("client balance %d (settlement %+v)", b, done.Settlement)
	}
	// Two 50 BTC coins paid it: the change goes back to the pool, and
	// settling again (a restart, a retry) sends no second transaction.
	plan := paidPlan(ctx, t, settlers, done)
	if len(plan.Spend.Inputs) != 2 {
		t.Fatalf("release spent %d coins", len(plan.Spend.Inputs))
	}
	if got := unspentOf(ctx, t, chain, w.pool, plan.Tx.TxHash()); got != 100*btcutil.SatoshiPerBitcoin-60*btcutil.SatoshiPerBitcoin-plan.Fee {
		t.Fatalf("change back to the pool %d (fee %d)", got, plan.Fee)
	}
	paid := done.Request.WithInputs(done.Result.Inputs)
	if again, err := settlers[done.Result.Coordinator].Settle(ctx, paid, done.Result.Signatures); err != nil || again.TxID != plan.TxID().String() {
		t.Fatalf("settling again: %+v, %v", again, err)
	}

	// Liquidation from the derived address: the margin engine asks the
	// exchange; custodian and exchange approve automatically.
	liq := marginCall(w, "liq-1", 20*btcutil.SatoshiPerBitcoin)
	v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), liq)
	if err != nil {
		t.Fatal(err)
	}
	lplan := paidPlan(ctx, t, settlers, confirmPaid(ctx, t, c, chain, settlers, v.ID, custody.Custodian, custody.Exchange))
	if b := balanceOf(ctx, t, chain, w.lender); b != 20*btcutil.SatoshiPerBitcoin {
		t.Fatalf("lender balance %d", b)
	}
	clientLeft := 40*btcutil.SatoshiPerBitcoin - lplan.Fee
	if b := balanceOf(ctx, t, chain, w.client); b != clientLeft {
		t.Fatalf("client balance %d, want %d", b, clientLeft)
	}

	// Emergency unfreeze of 15 BTC to the owner: opened and approved by
	// the custodian, approved by the regulator, signed 25 h later by the
	// nodes' own clocks.
	unf := unfreeze(w, 15*btcutil.SatoshiPerBitcoin, 2)
	unf.Requester, unf.CreatedAt = custody.Requester{}, time.Time{}
	v, _, err = c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), unf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Svc(custody.Custodian).Endorse(ctx, c.Approval(custody.Custodian, v, custody.Approve, "unf")); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, custody.Regulator, v.ID, "stored", func(service.View) bool { return true })
	if _, err := c.Svc(custody.Regulator).Endorse(ctx, c.Approval(custody.Regulator, v, custody.Approve, "unf")); err != nil {
		t.Fatal(err)
	}
	// Both signers hold both approvals before the notice period ends: a
	// partner that has not yet seen the opener's approval declines.
	for _, p := range []custody.Party{custody.Custodian, custody.Regulator} {
		c.WaitFor(t, p, v.ID, "two approvals", func(v service.View) bool { return len(v.Approvals) >= 2 })
	}
	// 25 h pass on every clock; the regulator witnesses them before the
	// custodian's tick begins the attempt (custodian first, as c.Advance
	// ticks, can race the regulator's own witnessing of the notice period).
	for _, m := range c.Members {
		m.Clock.Advance(25 * time.Hour)
	}
	for _, p := range []custody.Party{custody.Regulator, custody.Exchange, custody.Custodian} {
		c.Svc(p).Tick(ctx)
	}
	uv := confirmPaid(ctx, t, c, chain, settlers, v.ID, custody.Custodian)
	uplan := paidPlan(ctx, t, settlers, uv)
	if b := balanceOf(ctx, t, chain, w.borrower); b != 15*btcutil.SatoshiPerBitcoin {
		t.Fatalf("borrower balance %d", b)
	}
	if b := balanceOf(ctx, t, chain, w.client); b != clientLeft-15*btcutil.SatoshiPerBitcoin-uplan.Fee {
		t.Fatalf("client balance after unfreeze %d", b)
	}
	// Every node plans the transaction its coordinator paid.
	for p, s := range settlers {
		if other, err := s.Plan(ctx, uv.Request.WithInputs(uv.Result.Inputs)); err != nil || other.TxID() != uplan.TxID() {
			t.Fatalf("%s plans another transaction: %v", p, err)
		}
	}
	r, ok, err := settlers[custody.Custodian].Record(v.ID)
	if err != nil || !ok || !r.Broadcast || r.Raw == "" {
		t.Fatalf("coordinator's record %+v, %v", r, err)
	}
}

// Every node follows a done request's transaction on its tick, from its
// own view of the chain: the txid and the confirmations show in its view
// of the request (GET /v1/requests/{id}), with an event on each change,
// until the transaction has 6 confirmations; then it stops asking.
func TestServiceTracksConfirmations(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd and runs threshold signatures")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t)
	chain := regtest(ctx, t, w.pool)
	c, settlers := settledCluster(t, w, chain.Client)
	v := submitApprovedRelease(ctx, t, c, settlers, release(w, 10*btcutil.SatoshiPerBitcoin, 2), "track")
	for _, p := range custody.Parties {
		v = c.WaitFor(t, p, v.ID, "the signature", func(v service.View) bool { return v.Result != nil && v.Result.Complete })
	}
	plan, err := settlers[custody.Regulator].Plan(ctx, v.Request)
	if err != nil {
		t.Fatal(err)
	}
	txid := plan.TxID().String()
	confirmed := func(n int64) func(service.View) bool {
		return func(v service.View) bool {
			return v.Settlement != nil && v.Settlement.TxID == txid && v.Settlement.Confirmations == n && v.Settlement.Error == ""
		}
	}
	c.Tick() // in the mempool: known, no confirmation yet, not paid
	for _, p := range custody.Parties {
		if got := c.WaitFor(t, p, v.ID, "the txid, unconfirmed", confirmed(0)); got.Status != custody.StatusSigned {
			t.Fatalf("%s: %s before any block holds the transaction", p, got.Status)
		}
	}
	chain.Generate(t, 1)
	c.Tick()
	for _, p := range custody.Parties {
		got := c.WaitFor(t, p, v.ID, "one confirmation, done", func(v service.View) bool { return confirmed(1)(v) && v.Status == custody.StatusDone })
		if ids := c.Svc(p).Tracking(); len(ids) != 1 || ids[0] != v.ID {
			t.Fatalf("%s tracks %v", p, ids)
		}
		if p == custody.Custodian && (!got.Settlement.Broadcast || got.Settlement.Updated.IsZero()) {
			t.Fatalf("coordinator's settlement %+v", got.Settlement)
		}
	}
	chain.Generate(t, 5)
	c.Tick()
	for _, p := range custody.Parties {
		c.WaitFor(t, p, v.ID, "six confirmations, tracking over", func(v service.View) bool {
			return confirmed(6)(v) && len(c.Svc(p).Tracking()) == 0
		})
	}
	chain.Generate(t, 1)
	c.Tick() // nothing is followed any more
	for _, p := range custody.Parties {
		if got, _ := c.Svc(p).Get(v.ID); got.Settlement.Confirmations != 6 {
			t.Fatalf("%s still tracking: %+v", p, got.Settlement)
		}
	}
	// A restart does not follow it again.
	c.Restart(custody.Exchange)
	if ids := c.Svc(custody.Exchange).Tracking(); len(ids) != 0 {
		t.Fatalf("after restart the exchange tracks %v", ids)
	}
}

// paidPlan is the plan the coordinator of a paid request v signed.
func paidPlan(ctx context.Context, t *testing.T, settlers map[custody.Party]*settle.Settler, v service.View) *settle.Plan {
	t.Helper()
	plan, err := settlers[v.Result.Coordinator].Plan(ctx, v.Request.WithInputs(v.Result.Inputs))
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// unspentOf is the value of output of txid at address, confirmed, on chain.
func unspentOf(ctx context.Context, t *testing.T, chain *btcdtest.Node, address string, txid chainhash.Hash) int64 {
	t.Helper()
	coins, err := chain.Client.ListUnspent(ctx, address, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range coins {
		if c.OutPoint.Hash == txid {
			return c.Value
		}
	}
	return 0
}

// submitApprovedRelease stores a release draft at the custodian's node
// (coins are chosen when signing begins), and both required operators
// approve it.
func submitApprovedRelease(ctx context.Context, t *testing.T, c *st.Cluster, settlers map[custody.Party]*settle.Settler, draft custody.Request, nonce string) service.View {
	t.Helper()
	draft.Requester, draft.CreatedAt, draft.Inputs = custody.Requester{}, time.Time{}, nil
	v, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), draft)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		c.WaitFor(t, p, v.ID, "stored", func(service.View) bool { return true })
		if _, err := c.Svc(p).Endorse(ctx, c.Approval(p, v, custody.Approve, nonce)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}
