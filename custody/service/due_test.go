package service_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// counter reads one of svc's counters, summed over its labels that match
// the given label value (any, when label is "").
func counter(t *testing.T, svc *service.Service, name, label, value string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(svc.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if label == "" || l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
					break
				}
			}
			if label == "" && len(m.GetLabel()) == 0 {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// Issue 9 (the storm's drain; ../shared/SECURITY.md scenario 19: a
// node's own periodic work must not flood its peers' bounded work queues):
// open requests that nothing changes — releases waiting for their
// operators — are neither stepped on every tick nor offered and queried
// on a fixed 30 s cadence: steps back off from one tick period, offers
// and queries from 30 s, doubling up to a minute. On the old code each
// node stepped every open request on every tick (120 ticks: 120 steps a
// request) and queried each peer about it every 30 s (20 in ten minutes).
func TestTickStepsAndOffersOnlyWhatIsDue(t *testing.T) {
	const (
		requests = 6
		ticks    = 120 // ten minutes of 5 s ticks
	)
	var steps atomic.Int64 // custody.Step runs at the regulator: each reads the account's exposure
	c := st.New(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		if p == custody.Regulator {
			o.Exposure = func(string) (uint64, bool) { steps.Add(1); return 0, true }
		}
	}})
	releasedEverywhere(t, c, "due", requests)
	reg := c.Svc(custody.Regulator)
	stepsBefore := steps.Load()
	queriesBefore := counter(t, reg, "triad_custody_peer_messages_total", "type", "query")
	for range ticks {
		c.Advance(5 * time.Second)
	}
	// Counted as received: the last tick's queries may still be in
	// flight, which only lowers the count (the bound has the slack).
	queries := counter(t, reg, "triad_custody_peer_messages_total", "type", "query") - queriesBefore
	perRequest := float64(steps.Load()-stepsBefore) / requests
	// Backoff from 5 s doubling to 60 s: about 14 tick steps in ten
	// minutes, plus one for each query, status and offer its peers send
	// (about 50 in all).
	if perRequest > 70 {
		t.Errorf("%.1f steps of each unchanged request in %d ticks at the regulator, want at most 70 (the old code: every tick and every peer's message, over %d)", perRequest, ticks, ticks)
	}
	// Each of two peers queries each request: 0 s, 30-37 s later, then
	// every 60-75 s: about 10 in ten minutes.
	if perPeer := queries / requests / 2; perPeer > 12 {
		t.Errorf("%.1f queries of each unchanged request from each peer in ten minutes, want at most 12 (the old code: every 30 s, 20)", perPeer)
	}
	if got := counter(t, reg, "triad_custody_tick_steps_total", "", ""); got == 0 {
		t.Error("no tick steps counted")
	}
}

// Issue 9 (../shared/SECURITY.md scenario 19): with offers backed off,
// nothing is lost: a veto the exchange missed while cut off between two
// ticks (so no tick saw it unreachable) reaches it within the backoff's
// bound, maxBackoff and its spread: 75 s of ticks after the link heals,
// and no later tick is needed.
func TestMissedVetoRepairedWithinBackoff(t *testing.T) {
	c := st.New(t, st.Options{})
	v := open(t, c, "veto-backoff")
	c.WaitFor(t, custody.Exchange, v.ID, "the opening approval", hasApprovals(1))
	for range 60 { // five minutes: the offers' backoff is at its longest
		c.Advance(5 * time.Second)
	}
	c.Net.Isolate(string(custody.Exchange), true)
	if _, err := c.Svc(custody.Regulator).Endorse(ctx, c.Approval(custody.Regulator, v, custody.Veto, "v")); err != nil {
		t.Fatal(err)
	}
	c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusVetoed)
	c.Net.Isolate(string(custody.Exchange), false)
	if got, _ := c.Svc(custody.Exchange).Get(v.ID); got.Status == custody.StatusVetoed {
		t.Fatal("the veto crossed the cut")
	}
	for range 16 { // 80 s
		c.Advance(5 * time.Second)
	}
	c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusVetoed)
}

// Issue 9 (the storm's drain; ../shared/SECURITY.md scenario 19): a
// tracked request is stepped only when its transaction's confirmations
// changed, not on every tick (a storm's batch has dozens of members, each
// tracked on every tick). The old code stepped it on every pass.
func TestTrackedRequestSteppedOnlyOnChange(t *testing.T) {
	var confs atomic.Int64
	// The custodian's Tracker says it is asked, then waits to answer: the
	// test paces its passes, and reads the count while one waits (every
	// earlier pass is over then).
	asked, answer := make(chan struct{}), make(chan struct{})
	c := st.New(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		o.Tracker = func(ctx context.Context, req custody.Request) (service.Settlement, bool, error) {
			if p == custody.Custodian {
				select {
				case asked <- struct{}{}:
				case <-ctx.Done():
					return service.Settlement{}, false, ctx.Err()
				}
				select {
				case <-answer:
				case <-ctx.Done():
					return service.Settlement{}, false, ctx.Err()
				}
			}
			return service.Settlement{TxID: "tx-" + req.ID(), Confirmations: confs.Load()}, true, nil
		}
	}})
	v, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), st.Release("tracked", 4000))
	if err != nil {
		t.Fatal(err)
	}
	approve(t, c, custody.Exchange, v, "t")
	approve(t, c, custody.Custodian, v, "t")
	c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
	cu := c.Svc(custody.Custodian)
	// pass ticks and returns the custodian's track steps so far, read
	// while its Tracker is asked; then lets it answer.
	pass := func() float64 {
		c.Tick()
		<-asked
		got := counter(t, cu, "triad_custody_track_steps_total", "", "")
		answer <- struct{}{}
		return got
	}
	confs.Store(1)
	for range 6 {
		pass()
	}
	if got := pass(); got != 1 {
		t.Errorf("%v steps in 6 passes with the confirmations unchanged, want 1", got)
	}
	confs.Store(2)
	pass()
	pass()
	if got := pass(); got != 2 {
		t.Errorf("%v steps after the confirmations changed once, want 2", got)
	}
}

// Issue 9 (the storm's drain): a liquidation batch is cut when its window
// is over, by a timer on the node's injected clock, not at the next tick
// (up to a tick period later). Here no tick runs at all (the loop's
// ticker is an hour): the fake clock reaching the window cuts the batch.
// On the old code only the ticker cut, and nothing was ever signed.
// ../shared/SECURITY.md scenario 26: each liquidation is still judged by
// every signer in the batch.
func TestBatchCutAtItsWindow(t *testing.T) {
	c := st.New(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		o.Batcher = service.InterimBatcher{}
		o.AuthorizeWait = 300 * time.Millisecond
		if p == custody.Custodian {
			o.TickEvery = time.Hour // Start's loop runs; its ticker never fires here
		}
	}})
	coord := c.Members[custody.Custodian]
	window := coord.Svc.Policy().BatchWindow()
	ids := submitLiquidations(t, c, map[string]time.Time{"w-1": st.Epoch, "w-2": st.Epoch})
	coord.Svc.Start()
	coord.Clock.Advance(window - time.Millisecond)
	for _, id := range ids {
		if v, _ := coord.Svc.Get(id); v.Status != custody.StatusApproved || v.Attempts != 0 {
			t.Fatalf("begun before the window: %s %d", v.Status, v.Attempts)
		}
	}
	coord.Clock.Advance(time.Millisecond)
	for _, id := range ids {
		v := c.WaitStatus(t, custody.Custodian, id, custody.StatusDone)
		if v.Result == nil || v.Result.Batch == nil || len(v.Result.Signatures) != len(ids) {
			t.Fatalf("result %+v", v.Result)
		}
	}
}

// Issue 9 (the storm's drain; ../shared/SECURITY.md scenario 19): the
// tick after a burst of new requests does not offer or query them again
// at once (their proposals and endorsements were just sent; in a storm the
// copies only overflowed the peers' busy work queues: 279 proposals
// dropped at the custodian), but offerEvery later. On the old code the
// first tick queried each peer about every new request.
func TestNewRequestsNotOfferedAtOnce(t *testing.T) {
	const requests = 5
	c := st.New(t, st.Options{})
	c.Tick() // the first tick: nothing new yet
	reg := c.Svc(custody.Regulator)
	releasedEverywhere(t, c, "burst", requests)
	before := counter(t, reg, "triad_custody_peer_messages_total", "type", "query")
	c.Advance(5 * time.Second)
	// Counted as received (memnet delivers as it sends: the old code's 10
	// are all counted here).
	if got := counter(t, reg, "triad_custody_peer_messages_total", "type", "query") - before; got != 0 {
		t.Errorf("%v queries about requests just proposed, at the next tick; want none", got)
	}
	for range 8 { // 40 s: offerEvery and its spread
		c.Advance(5 * time.Second)
	}
	// The queries reach the regulator after the tick that sent them, and
	// nothing tells the test when: poll its counter, with one deadline.
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		got := counter(t, reg, "triad_custody_peer_messages_total", "type", "query") - before
		if got >= 2*requests {
			return
		}
		select {
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("%v queries reached the regulator within offerEvery and its spread; want %d (each peer about each request)", got, 2*requests)
		}
	}
}

// releasedEverywhere submits n releases at the custodian (idempotency keys
// prefix-0 …) and waits until every node holds each; it returns their IDs.
func releasedEverywhere(t *testing.T, c *st.Cluster, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		v, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), st.Release(fmt.Sprintf("%s-%d", prefix, i), 1000))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	for _, id := range ids {
		for _, p := range custody.Parties {
			c.WaitFor(t, p, id, "the request", func(service.View) bool { return true })
		}
	}
	return ids
}
