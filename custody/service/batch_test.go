package service_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss/fixtures"
)

// batchCluster is servicetest's cluster paying liquidations in batches
// with the interim batcher (one digest per member).
func batchCluster(t *testing.T) *st.Cluster {
	return st.New(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		o.Batcher = service.InterimBatcher{}
		o.AuthorizeWait = 300 * time.Millisecond
	}})
}

func submitLiquidations(t *testing.T, c *st.Cluster, evidence map[string]time.Time) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for idem, at := range evidence {
		v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), st.Liquidation(idem, 100_000, st.MarginKey(), at))
		if err != nil {
			t.Fatal(err)
		}
		ids[idem] = v.ID
	}
	for _, id := range ids {
		for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
			c.WaitFor(t, p, id, "approved", func(v service.View) bool { return v.Status != custody.StatusProposed })
		}
	}
	return ids
}

func capCount(t *testing.T, c *st.Cluster, p custody.Party, class string) int {
	t.Helper()
	n, err := c.Svc(p).Store().Settlements(custody.CapKey(custody.DayKey(c.Members[p].Clock.Now()), class))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Issue 9 item 3: approved liquidations wait for the batch window at the
// coordinator, then are signed as one batch: every member's result names
// the same batch, and the batch is counted once against
// liquidation_batches_per_day (and never against settlements_per_day) at
// each signer.
func TestLiquidationsPaidInOneBatch(t *testing.T) {
	c := batchCluster(t)
	ids := submitLiquidations(t, c, map[string]time.Time{"b-1": st.Epoch, "b-2": st.Epoch, "b-3": st.Epoch})
	c.Tick() // queued, the window not yet over: nothing begins
	for _, id := range ids {
		if v, _ := c.Svc(custody.Custodian).Get(id); v.Status != custody.StatusApproved || v.Attempts != 0 {
			t.Fatalf("begun before the window: %s %d", v.Status, v.Attempts)
		}
	}
	c.Advance(c.Svc(custody.Custodian).Policy().BatchWindow())
	var batch string
	for _, id := range ids {
		for _, p := range custody.Parties {
			v := c.WaitStatus(t, p, id, custody.StatusDone)
			if v.Result == nil || v.Result.Batch == nil || len(v.Result.Signatures) != len(ids) {
				t.Fatalf("%s: result %+v", p, v.Result)
			}
			if batch == "" {
				batch = v.Result.Batch.ID
			}
			if v.Result.Batch.ID != batch {
				t.Fatalf("%s: two batches %s and %s", p, batch, v.Result.Batch.ID)
			}
		}
	}
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		if n := capCount(t, c, p, custody.CapLiquidation); n != 1 {
			t.Fatalf("%s counted %d liquidation batches, want 1", p, n)
		}
		if n := capCount(t, c, p, ""); n != 0 {
			t.Fatalf("%s counted %d settlements for a liquidation batch", p, n)
		}
	}
}

// Issue 9 item 3, "a batch where one liquidation is refused by one
// signer" (../shared/SECURITY.md scenario 8: each node refuses on its own): the exchange's own clock finds one
// member's margin-call evidence stale. It refuses the batch naming that
// member and why; the coordinator cuts the next batch without it, and the
// others are paid. The refused one is not paid and its view says why.
func TestBatchMemberRefusedByOneSigner(t *testing.T) {
	c := batchCluster(t)
	ids := submitLiquidations(t, c, map[string]time.Time{
		"ok-1": st.Epoch, "ok-2": st.Epoch, "stale": st.Epoch.Add(-10 * time.Minute)})
	// At the exchange, evidence_max_age (15m) has passed for "stale" only.
	c.Members[custody.Exchange].Clock.Advance(6 * time.Minute)
	coord := c.Members[custody.Custodian]
	window := coord.Svc.Policy().BatchWindow()
	coord.Clock.Advance(window)
	coord.Svc.Tick(ctx)
	// The exchange refuses the batch naming "stale" (the coordinator keeps
	// it out of the next batch, saying why), or, when its rejection of
	// "stale" reaches the coordinator first, the coordinator fails it
	// (a liquidation needs the exchange) and leaves it out anyway.
	c.WaitFor(t, custody.Custodian, ids["stale"], "refused by the exchange", func(v service.View) bool {
		return strings.Contains(v.Waiting+v.Reason, custody.ReasonEvidenceStale)
	})
	for _, idem := range []string{"ok-1", "ok-2"} {
		c.WaitFor(t, custody.Custodian, ids[idem], "the first batch over", func(v service.View) bool {
			return v.Attempts >= 1 && v.Status != custody.StatusSigning
		})
	}
	// The next window: queued again, then a batch without the refused one.
	for range 2 {
		coord.Clock.Advance(window)
		coord.Svc.Tick(ctx)
	}
	doneInOneBatch(t, c, ids, "ok-1", "ok-2")
	for _, idem := range []string{"ok-1", "ok-2"} {
		c.WaitStatus(t, custody.Exchange, ids[idem], custody.StatusDone)
	}
	v, _ := c.Svc(custody.Custodian).Get(ids["stale"])
	if v.Status == custody.StatusDone || v.Status == custody.StatusSigned || v.Result != nil {
		t.Fatalf("the refused liquidation was paid: %s %+v", v.Status, v.Result)
	}
	// It waits, or (here) fails at once: the exchange's refusal is final
	// and a liquidation needs the exchange.
	if !strings.Contains(v.Waiting+v.Reason, custody.ReasonEvidenceStale) {
		t.Fatalf("the refused liquidation does not say why: %q (%s %q)", v.Waiting, v.Status, v.Reason)
	}
	ex := c.WaitStatus(t, custody.Exchange, ids["stale"], custody.StatusRejected)
	if !strings.Contains(ex.Reason, custody.ReasonEvidenceStale) {
		t.Fatalf("exchange's reason %q", ex.Reason)
	}
	// The exchange joined one batch; the coordinator counted each batch it
	// began: the refused one (if "stale" was in it) and the paid one.
	if n := capCount(t, c, custody.Exchange, custody.CapLiquidation); n != 1 {
		t.Fatalf("exchange counted %d batches", n)
	}
	ok1, _ := c.Svc(custody.Custodian).Get(ids["ok-1"])
	if n := capCount(t, c, custody.Custodian, custody.CapLiquidation); n != ok1.Attempts {
		t.Fatalf("custodian counted %d batches for %d attempts", n, ok1.Attempts)
	}
}

// A partner joins a batch only for the digest and key it computes itself
// from members it stores, and only liquidations (../shared/SECURITY.md scenario 8);
// it counts a batch once however often it joins it, and refuses a member
// that is in another live batch.
func TestBatchAuthorizer(t *testing.T) {
	c := batchCluster(t)
	ids := submitLiquidations(t, c, map[string]time.Time{"az-1": st.Epoch, "az-2": st.Epoch})
	rel, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleOperator), st.Release("az-rel", 1000))
	if err != nil {
		t.Fatal(err)
	}
	ex := c.Svc(custody.Exchange)
	get := func(id string) custody.Request {
		v, err := ex.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		return v.Request
	}
	l1, l2 := get(ids["az-1"]), get(ids["az-2"])
	proposal := func(nonce string, members ...custody.Request) *node.Proposal {
		return batchProposal(t, ex, nonce, members...)
	}
	refused := map[string]*node.Proposal{}
	p := proposal("n1", l1)
	p.Digest = make([]byte, 32)
	refused["a digest it did not compute"] = p
	p = proposal("n1", l1)
	p.ChildPath = "m/0/2"
	refused["another child path"] = p
	refused["a release in the batch"] = proposal("n1", l1, rel.Request)
	p = proposal("n1", l1)
	p.Participants = []string{"custodian", "regulator"}
	refused["a session without this node"] = p
	p = proposal("n1", l1)
	p.RequestID = "batch-" + strings.Repeat("0", 64) + "/0/n1"
	refused["a request ID naming another batch"] = p
	for name, p := range refused {
		if err := ex.AuthorizeSign(ctx, fixtures.KeyID, p); !errors.Is(err, service.ErrRefused) {
			t.Errorf("%s: %v", name, err)
		}
	}
	good := proposal("n1", l1)
	for range 2 {
		if err := ex.AuthorizeSign(ctx, fixtures.KeyID, good); err != nil {
			t.Fatalf("a batch of a liquidation it approved: %v", err)
		}
	}
	if n := capCount(t, c, custody.Exchange, custody.CapLiquidation); n != 1 {
		t.Fatalf("one batch joined twice counted %d", n)
	}
	if v, _ := ex.Get(l1.ID()); v.Status != custody.StatusSigning {
		t.Fatalf("member after joining: %s", v.Status)
	}
	err = ex.AuthorizeSign(ctx, fixtures.KeyID, proposal("n2", l1, l2))
	if !errors.Is(err, service.ErrRefused) || !strings.Contains(err.Error(), "batch member "+l1.ID()+": in another live batch") {
		t.Fatalf("a member of a live batch in another: %v", err)
	}
}

// Kill -9 of the coordinator mid-batch (../shared/SECURITY.md scenario 23): after
// the restart every member is paid exactly once, by the same batch (its
// members' plans are locked, so the batch cut again is the same document
// and ID), counted once against liquidation_batches_per_day.
func TestBatchCoordinatorRestart(t *testing.T) {
	c := batchCluster(t)
	ids := submitLiquidations(t, c, map[string]time.Time{"rs-1": st.Epoch, "rs-2": st.Epoch})
	window := c.Svc(custody.Custodian).Policy().BatchWindow()
	c.Advance(window)
	for _, id := range ids {
		c.WaitFor(t, custody.Custodian, id, "signing or signed", func(v service.View) bool {
			return v.Status == custody.StatusSigning || v.Status == custody.StatusSigned || v.Status == custody.StatusDone
		})
	}
	c.Restart(custody.Custodian)
	for range 2 {
		c.Advance(window) // queued again, then cut again (if nothing was signed before the kill)
	}
	var batch string
	for _, id := range ids {
		for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
			v := c.WaitStatus(t, p, id, custody.StatusDone)
			if batch == "" {
				batch = v.Result.Batch.ID
			}
			if v.Result.Batch.ID != batch {
				t.Fatalf("%s: members paid by two batches", p)
			}
		}
	}
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		if n := capCount(t, c, p, custody.CapLiquidation); n != 1 {
			t.Fatalf("%s counted %d batches", p, n)
		}
		if b, ok, _ := c.Svc(p).Store().BatchOf(ids["rs-1"]); !ok || b != batch {
			t.Fatalf("%s: stored batch of a member %q", p, b)
		}
	}
}

// liquidation_batch_max cuts a batch as soon as that many are queued,
// before the window; the next liquidation waits for its own window.
func TestBatchCutAtSizeLimit(t *testing.T) {
	c := st.New(t, st.Options{
		Policy: func(_ custody.Party, pol *custody.Policy) { pol.LiquidationBatchMax = 2 },
		Service: func(_ custody.Party, o *service.Options) {
			o.Batcher = service.InterimBatcher{}
			o.AuthorizeWait = 300 * time.Millisecond
		}})
	ids := submitLiquidations(t, c, map[string]time.Time{"sz-1": st.Epoch, "sz-2": st.Epoch})
	first := map[string]bool{}
	for _, id := range ids {
		v := c.WaitStatus(t, custody.Custodian, id, custody.StatusDone) // no clock moved
		first[v.Result.Batch.ID] = true
	}
	if len(first) != 1 {
		t.Fatalf("two full members paid by %d batches", len(first))
	}
	late := submitLiquidations(t, c, map[string]time.Time{"sz-3": st.Epoch})["sz-3"]
	c.Tick()
	if v, _ := c.Svc(custody.Custodian).Get(late); v.Status != custody.StatusApproved || v.Attempts != 0 || !strings.Contains(v.Waiting, "queued") {
		t.Fatalf("a lone liquidation began before its window: %s %d %q", v.Status, v.Attempts, v.Waiting)
	}
	c.Advance(c.Svc(custody.Custodian).Policy().BatchWindow())
	if v := c.WaitStatus(t, custody.Custodian, late, custody.StatusDone); first[v.Result.Batch.ID] || len(v.Result.Signatures) != 1 {
		t.Fatalf("the late liquidation's batch %+v", v.Result)
	}
}

// batchProposal is the coordinator's proposal (custodian with exchange)
// of input 0 of a batch of members, as svc stores them.
func batchProposal(t *testing.T, svc *service.Service, nonce string, members ...custody.Request) *node.Proposal {
	t.Helper()
	b := service.Batch{Batch: service.BatchVersion}
	for _, m := range members {
		b.Members = append(b.Members, service.BatchMember{RequestID: m.ID()})
	}
	slices.SortFunc(b.Members, func(x, y service.BatchMember) int { return strings.Compare(x.RequestID, y.RequestID) })
	var ordered []custody.Request
	for _, m := range b.Members {
		v, err := svc.Get(m.RequestID)
		if err != nil {
			t.Fatal(err)
		}
		ordered = append(ordered, v.Request)
	}
	ins, _ := service.InterimBatcher{}.BatchDigests(ctx, b.ID(), ordered)
	return &node.Proposal{KeyID: fixtures.KeyID, RequestID: "batch-" + b.ID() + "/0/" + nonce, Participants: []string{"custodian", "exchange"},
		Digest: ins[0].Digest[:], ChildPath: ins[0].ChildPath, Payload: b.Canonical()}
}

// The partner refuses one member of a batch and names it (here: the
// member is in another live batch at the exchange); the failover party
// declines every member. The coordinator keeps only the partner's named
// member out of the next batch, which pays the other two together; the
// refused member's view says why it waits.
func TestBatchRefusalNamesTheMember(t *testing.T) {
	c := batchCluster(t)
	ids := submitLiquidations(t, c, map[string]time.Time{"n-1": st.Epoch, "n-2": st.Epoch, "n-busy": st.Epoch})
	ex := c.Svc(custody.Exchange)
	busy, err := ex.Get(ids["n-busy"])
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.AuthorizeSign(ctx, fixtures.KeyID, batchProposal(t, ex, "elsewhere", busy.Request)); err != nil {
		t.Fatal(err)
	}
	coord := c.Members[custody.Custodian]
	window := coord.Svc.Policy().BatchWindow()
	coord.Clock.Advance(window)
	coord.Svc.Tick(ctx)
	c.WaitFor(t, custody.Custodian, ids["n-busy"], "refused by the exchange", func(v service.View) bool {
		return strings.Contains(v.Waiting, "refused by exchange") && strings.Contains(v.Waiting, "in another live batch")
	})
	for _, idem := range []string{"n-1", "n-2"} {
		// Back in the queue, or already in the next batch: it is due, so
		// the coordinator cuts that batch as soon as the first is over.
		v := c.WaitFor(t, custody.Custodian, ids[idem], "the first batch over", func(v service.View) bool {
			return v.Attempts >= 1 && v.Status != custody.StatusSigning
		})
		if strings.Contains(v.Waiting, "refused") {
			t.Fatalf("%s kept out for the failover party's refusal: %q", idem, v.Waiting)
		}
	}
	for range 2 {
		coord.Clock.Advance(window)
		coord.Svc.Tick(ctx)
	}
	batch := doneInOneBatch(t, c, ids, "n-1", "n-2")
	if v, _ := c.Svc(custody.Custodian).Get(ids["n-busy"]); v.Result != nil || v.Status == custody.StatusDone {
		t.Fatalf("the refused member was paid: %s", v.Status)
	}
	// A newer liquidation is queued, not yet due: the refused member, due,
	// is tried again, alone (it is not starved by newer arrivals).
	coord.Clock.Advance(window / 2)
	late := submitLiquidations(t, c, map[string]time.Time{"n-late": st.Epoch})["n-late"]
	coord.Clock.Advance(window / 2)
	coord.Svc.Tick(ctx)
	v := c.WaitFor(t, custody.Custodian, ids["n-busy"], "tried again", func(v service.View) bool {
		return v.Attempts == 2 && v.Status != custody.StatusSigning
	})
	if v.Result != nil && (len(v.Result.Signatures) != 1 || v.Result.Batch.ID == batch) {
		t.Fatalf("the refused member was not tried alone: %+v", v.Result)
	}
	if lv, _ := c.Svc(custody.Custodian).Get(late); lv.Attempts != 0 {
		t.Fatalf("the newer liquidation began before its window: %d attempts", lv.Attempts)
	}
}

// liquidation_batches_per_day counts batches, not liquidations: with a cap
// of one, one batch pays two liquidations, and the next liquidation that
// day is refused for the cap, not signed.
func TestBatchCapCountsBatches(t *testing.T) {
	c := st.New(t, st.Options{
		Policy: func(_ custody.Party, pol *custody.Policy) { pol.LiquidationBatchesPerDay = 1 },
		Service: func(_ custody.Party, o *service.Options) {
			o.Batcher = service.InterimBatcher{}
			o.AuthorizeWait = 300 * time.Millisecond
		}})
	ids := submitLiquidations(t, c, map[string]time.Time{"cap-1": st.Epoch, "cap-2": st.Epoch})
	c.Advance(c.Svc(custody.Custodian).Policy().BatchWindow())
	for _, id := range ids {
		c.WaitStatus(t, custody.Custodian, id, custody.StatusDone)
	}
	v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), st.Liquidation("cap-3", 100_000, st.MarginKey(), st.Epoch))
	if err != nil {
		t.Fatal(err)
	}
	// Refused for the cap: by the custodian's own evaluation (rejected),
	// or by the exchange's first, whose rejection makes the quorum
	// impossible here (failed) — either way for the daily cap, unsigned.
	got := c.WaitFor(t, custody.Custodian, v.ID, "the cap's refusal", func(v service.View) bool { return v.Status.Terminal() })
	if (got.Status != custody.StatusRejected && got.Status != custody.StatusFailed) || !strings.Contains(got.Reason, custody.ReasonDailyCap) || got.Result != nil {
		t.Fatalf("the third liquidation: %s %q", got.Status, got.Reason)
	}
}

// A peer's batch result is recorded only once its signatures verify, under
// each input's own account key, over the digests this node derives from
// the batch itself (../shared/SECURITY.md scenario 8): a result signed by another
// key is refused, and the request stays unsigned here.
func TestForgedBatchResultRefused(t *testing.T) {
	c := batchCluster(t)
	ids := submitLiquidations(t, c, map[string]time.Time{"fg-1": st.Epoch, "fg-2": st.Epoch})
	reg := c.Svc(custody.Regulator)
	var members []custody.Request
	for _, idem := range []string{"fg-1", "fg-2"} {
		v := c.WaitFor(t, custody.Regulator, ids[idem], "stored", func(service.View) bool { return true })
		members = append(members, v.Request)
	}
	slices.SortFunc(members, func(x, y custody.Request) int { return strings.Compare(x.ID(), y.ID()) })
	b := service.Batch{Batch: service.BatchVersion}
	for _, m := range members {
		b.Members = append(b.Members, service.BatchMember{RequestID: m.ID()})
	}
	ins, _ := service.InterimBatcher{}.BatchDigests(ctx, b.ID(), members)
	rogue, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	var sigs []service.Signature
	for _, in := range ins {
		sig := btcecdsa.Sign(rogue, in.Digest[:])
		r, s := sig.R(), sig.S()
		rb, sb := r.Bytes(), s.Bytes()
		sigs = append(sigs, service.Signature{Digest: in.Digest, R: new(big.Int).SetBytes(rb[:]), S: new(big.Int).SetBytes(sb[:])})
	}
	send := func(id string, res *service.Result, reason string) {
		msg, err := json.Marshal(map[string]any{"type": "status", "request_id": id,
			"status": service.PeerStatus{Status: custody.StatusApproved, Reason: reason, At: st.Epoch}, "result": res})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Members[custody.Custodian].Node.SendApp(ctx, "regulator", service.Topic, msg); err != nil {
			t.Fatal(err)
		}
	}
	forged := &service.Result{Coordinator: "custodian", Signers: []custody.Party{"custodian", "exchange"}, Signatures: sigs, Complete: true,
		Batch: &service.BatchRef{ID: b.ID(), Doc: b.Canonical()}}
	send(members[0].ID(), forged, "forged")
	// Messages are handled one at a time, in the order they are queued: a
	// marker sent once the forged one is being handled comes after it.
	c.WaitFor(t, custody.Regulator, members[0].ID(), "the forged status", func(v service.View) bool {
		return v.Peers[custody.Custodian].Reason == "forged"
	})
	send(members[1].ID(), nil, "marker")
	c.WaitFor(t, custody.Regulator, members[1].ID(), "the marker", func(v service.View) bool {
		return v.Peers[custody.Custodian].Reason == "marker"
	})
	if v, _ := reg.Get(members[0].ID()); v.Result != nil || v.Status == custody.StatusSigned || v.Status == custody.StatusDone {
		t.Fatalf("a forged batch result was recorded: %s %+v", v.Status, v.Result)
	}
}

// A member whose coordinator approval has not reached the partner yet (in
// the storm, custody messages wait in a full work queue) is a fact in
// flight, not a refusal: the partner names it "not ready" and waits
// instead of refusing the batch, so the coordinator does not exile it to
// a batch of its own (../shared/SECURITY.md scenario 8: each node decides on its
// own facts). Once the approval arrives the partner joins. (On the old
// code a batch with one such member among ready ones was refused naming
// it.)
func TestBatchPartnerWaitsForMemberNotReady(t *testing.T) {
	c := batchCluster(t)
	ready := submitLiquidations(t, c, map[string]time.Time{"w-ready": st.Epoch})["w-ready"]
	c.Net.Isolate(string(custody.Custodian), true)
	ex := c.Svc(custody.Exchange)
	late, _, err := ex.Submit(ctx, st.Caller(service.RoleMarginEngine), st.Liquidation("w-late", 100_000, st.MarginKey(), st.Epoch))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ex.Get(ready)
	p := batchProposal(t, ex, "w1", r.Request, late.Request)
	err = ex.AuthorizeSign(ctx, fixtures.KeyID, p)
	if !errors.Is(err, service.ErrNotReady) || errors.Is(err, service.ErrRefused) || strings.Contains(err.Error(), "batch member "+late.ID+": ") {
		t.Fatalf("a member still waiting for the coordinator's approval: %v", err)
	}
	c.Net.Isolate(string(custody.Custodian), false)
	c.Tick() // the exchange offers its request again; the custodian approves it
	c.WaitFor(t, custody.Exchange, late.ID, "the custodian's approval", func(v service.View) bool { return len(v.Approvals) >= 2 })
	if err := ex.AuthorizeSign(ctx, fixtures.KeyID, p); err != nil {
		t.Fatalf("both members approved: %v", err)
	}
}

// doneInOneBatch waits until the liquidations idems are done at the
// custodian and checks they were signed in one batch, two signatures each.
// It returns the batch's ID.
func doneInOneBatch(t *testing.T, c *st.Cluster, ids map[string]string, idems ...string) string {
	t.Helper()
	var batch string
	for _, idem := range idems {
		v := c.WaitStatus(t, custody.Custodian, ids[idem], custody.StatusDone)
		if batch == "" {
			batch = v.Result.Batch.ID
		}
		if v.Result.Batch.ID != batch || len(v.Result.Signatures) != 2 {
			t.Fatalf("%s: %+v", idem, v.Result)
		}
	}
	return batch
}
