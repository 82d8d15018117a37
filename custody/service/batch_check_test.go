package service_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss/fixtures"
)

// gatedCoins pays liquidations with one coin each (named by the request)
// behind a Bitcoin node whose lookups answer only once want of them are
// in flight together: a node that looks a batch's coins up one after
// another never gets an answer before its deadline.
type gatedCoins struct {
	want int

	mu            sync.Mutex
	inFlight, max int
	all           chan struct{} // closed once want lookups were in flight together
}

func newGatedCoins(want int) *gatedCoins { return &gatedCoins{want: want, all: make(chan struct{})} }

// interimBatchOf is the batch svc's coordinator would cut of the stored
// liquidations ids (members in request ID order, each paying with its
// coinOf), those members with their inputs, and each input's digest
// (InterimBatcher).
func interimBatchOf(t *testing.T, svc *service.Service, ids map[string]string) (service.Batch, []custody.Request, []service.BatchInput) {
	t.Helper()
	b := service.Batch{Batch: service.BatchVersion}
	var reqs []custody.Request
	for _, id := range ids {
		v, err := svc.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, v.Request)
	}
	slices.SortFunc(reqs, func(x, y custody.Request) int { return strings.Compare(x.ID(), y.ID()) })
	for i, r := range reqs {
		in := []custody.Input{coinOf(r)}
		b.Members = append(b.Members, service.BatchMember{RequestID: r.ID(), Inputs: in})
		reqs[i] = r.WithInputs(in)
	}
	ins, err := service.InterimBatcher{}.BatchDigests(ctx, b.ID(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	return b, reqs, ins
}

func coinOf(req custody.Request) custody.Input {
	h := sha256.Sum256([]byte("coin of " + req.ID()))
	return custody.Input{TxID: hex.EncodeToString(h[:]), Vout: 0, Value: 5_000_000}
}

func (g *gatedCoins) Pays(req custody.Request) bool { return req.Kind == custody.KindLiquidation }
func (g *gatedCoins) Hold(custody.Request) error    { return nil }
func (g *gatedCoins) Batches(custody.Request) bool  { return true }

func (g *gatedCoins) Plan(_ context.Context, req custody.Request, _ func([]custody.Input) ([]custody.Input, error)) (custody.Request, error) {
	return req.WithInputs([]custody.Input{coinOf(req)}), nil
}

func (g *gatedCoins) Check(ctx context.Context, req custody.Request) error {
	g.mu.Lock()
	g.inFlight++
	g.max = max(g.max, g.inFlight)
	if g.inFlight == g.want {
		close(g.all)
	}
	g.mu.Unlock()
	defer func() { g.mu.Lock(); g.inFlight--; g.mu.Unlock() }()
	select {
	case <-g.all:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("looking up the coins of %.12s: %w", req.ID(), ctx.Err())
	}
}

// Issue 9 (the storm's drain): the partner looks up a batch's coins on its
// own Bitcoin node in parallel, a bounded number at once, not one member
// after another (../shared/SECURITY.md scenario 27: every input is still checked on
// the signer's own chain node before it joins). On the old code the first
// lookup waited alone until the authorization's deadline and the batch was
// refused.
func TestBatchPartnerChecksCoinsInParallel(t *testing.T) {
	const members = 4
	gate := newGatedCoins(members)
	c := st.New(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		o.Batcher = service.InterimBatcher{}
		o.AuthorizeWait = 2 * time.Second
		if p == custody.Exchange {
			o.Coins = gate
		} else {
			o.Coins = newGatedCoins(1)
		}
	}})
	evidence := map[string]time.Time{}
	for i := range members {
		evidence[fmt.Sprintf("par-%d", i)] = st.Epoch
	}
	ids := submitLiquidations(t, c, evidence)
	ex := c.Svc(custody.Exchange)
	b, _, ins := interimBatchOf(t, ex, ids)
	p := &node.Proposal{KeyID: fixtures.KeyID, RequestID: "batch-" + b.ID() + "/0/par", Participants: []string{"custodian", "exchange"},
		Digest: ins[0].Digest[:], ChildPath: ins[0].ChildPath, Payload: b.Canonical()}
	if err := ex.AuthorizeSign(ctx, fixtures.KeyID, p); err != nil {
		t.Fatalf("a batch of %d liquidations it approved: %v", members, err)
	}
	gate.mu.Lock()
	defer gate.mu.Unlock()
	if gate.max != members {
		t.Fatalf("at most %d coin lookups in flight at once, want %d", gate.max, members)
	}
}

// countingBatcher is the interim batcher counting the batches it derives.
type countingBatcher struct {
	service.InterimBatcher
	mu      sync.Mutex
	digests int
	settles map[bool]int // SettleBatch calls, by broadcast
}

func (b *countingBatcher) SettleBatch(ctx context.Context, id string, members []custody.Request, sigs []service.Signature, broadcast bool) error {
	b.mu.Lock()
	if b.settles == nil {
		b.settles = map[bool]int{}
	}
	b.settles[broadcast]++
	b.mu.Unlock()
	return b.InterimBatcher.SettleBatch(ctx, id, members, sigs, broadcast)
}

func (b *countingBatcher) BatchDigests(ctx context.Context, id string, members []custody.Request) ([]service.BatchInput, error) {
	b.mu.Lock()
	b.digests++
	b.mu.Unlock()
	return b.InterimBatcher.BatchDigests(ctx, id, members)
}

// Issue 9 (the storm's drain): a peer that is told a batch's results
// verifies the batch's signatures once, not once per member — every
// member carries the same signatures (../shared/SECURITY.md scenario 9: every peer
// still checks them against its own digests before recording any). On
// the old code the regulator derived the batch and checked every
// signature again for each member: 3 derivations for a batch of 3, 2,500
// signature checks for a batch of 50.
func TestBatchResultVerifiedOncePerBatch(t *testing.T) {
	batchers := map[custody.Party]*countingBatcher{}
	c := st.New(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		batchers[p] = &countingBatcher{}
		o.Batcher = batchers[p]
		o.AuthorizeWait = 300 * time.Millisecond
	}})
	ids := submitLiquidations(t, c, map[string]time.Time{"once-1": st.Epoch, "once-2": st.Epoch, "once-3": st.Epoch})
	c.Advance(c.Svc(custody.Custodian).Policy().BatchWindow())
	for _, id := range ids {
		v := c.WaitStatus(t, custody.Regulator, id, custody.StatusDone)
		if v.Result == nil || v.Result.Batch == nil || len(v.Result.Signatures) != len(ids) {
			t.Fatalf("regulator: result %+v", v.Result)
		}
	}
	reg := batchers[custody.Regulator]
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.digests != 1 {
		t.Fatalf("the regulator derived the batch %d times for %d members' results, want once", reg.digests, len(ids))
	}
}

// Issue 9 (the storm's drain): the coordinator finalizes (and
// broadcasts) a batch once, not once per member's result — every member
// carries the same signatures (../shared/SECURITY.md scenario 26: the batch is one
// transaction, sent once). On the old code each member's result settled
// the batch again, reading every member and its settlement record: 3
// settlements for a batch of 3, 50 × 50 reads for a storm's batch.
func TestBatchFinalizedOncePerBatch(t *testing.T) {
	batchers := map[custody.Party]*countingBatcher{}
	c := st.New(t, st.Options{Service: func(p custody.Party, o *service.Options) {
		batchers[p] = &countingBatcher{}
		o.Batcher = batchers[p]
		o.Finalizer = func(context.Context, custody.Request, service.Result) error { return nil }
		o.AuthorizeWait = 300 * time.Millisecond
	}})
	ids := submitLiquidations(t, c, map[string]time.Time{"fin-1": st.Epoch, "fin-2": st.Epoch, "fin-3": st.Epoch})
	c.Advance(c.Svc(custody.Custodian).Policy().BatchWindow())
	for _, id := range ids {
		c.WaitStatus(t, custody.Custodian, id, custody.StatusDone)
	}
	co := batchers[custody.Custodian]
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.settles[true] != 1 {
		t.Fatalf("the coordinator finalized the batch %d times for %d members' results, want once", co.settles[true], len(ids))
	}
}

// Issue 11 (one session-name format): a batch input's session is named
// custody.SessionName ("batch-<id>/<input>/<attempt>") and the partner
// reads it with custody.ParseSessionName, so a name without an attempt,
// or one past its length bound, is refused like any other malformed
// session name (../shared/SECURITY.md scenario 9: a peer's proposal is read
// strictly). On the old code the batch's own parser let both through and
// joined.
func TestBatchSessionNameIsTheCustodyFormat(t *testing.T) {
	c := batchCluster(t)
	ids := submitLiquidations(t, c, map[string]time.Time{"sn-1": st.Epoch})
	ex := c.Svc(custody.Exchange)
	v, err := ex.Get(ids["sn-1"])
	if err != nil {
		t.Fatal(err)
	}
	for name, nonce := range map[string]string{"no attempt": "", "an attempt past the bound": strings.Repeat("a", 300)} {
		p := batchProposal(t, ex, nonce, v.Request)
		if err := ex.AuthorizeSign(ctx, fixtures.KeyID, p); !errors.Is(err, service.ErrRefused) {
			t.Errorf("%s (%.40s…): %v", name, p.RequestID, err)
		}
	}
	p := batchProposal(t, ex, "sn", v.Request)
	if _, err := custody.ParseSessionName(p.RequestID); err != nil {
		t.Fatal(err)
	}
	if err := ex.AuthorizeSign(ctx, fixtures.KeyID, p); err != nil {
		t.Fatalf("a well-named session of a batch it approved: %v", err)
	}
}
