package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/store"
)

// batchState is the coordinator's queue of approved liquidations and the
// batches it is signing (under mu): each queued liquidation waits for the
// next batch from the time it was queued.
type batchState struct {
	queued  map[string]queuedMember // request ID → when queued, with whom it signs
	runs    map[string]*batchRun    // batch ID → a batch being signed here (batch_run.go)
	refused map[string]string       // member → why the partner refused it in the last batch
	judged  map[string]string       // "batch nonce participants" → its members' marks when this partner last judged them (batch_authorize.go)
	// slots hold one token per signing session that batches may run at
	// once (Options.MaxAttempts), shared by every run; not under mu.
	slots chan struct{}
	// wake tells Start's loop that the next cut's time may have changed
	// (nextCutLocked); not under mu.
	wake chan struct{}
}

func newBatchState(slots int) batchState {
	b := batchState{queued: map[string]queuedMember{}, runs: map[string]*batchRun{}, refused: map[string]string{},
		slots: make(chan struct{}, slots), wake: make(chan struct{}, 1)}
	for range slots {
		b.slots <- struct{}{}
	}
	return b
}

// maxJudged bounds the batch runs whose judgment a partner remembers.
const maxJudged = 64

// rememberJudged keeps the marks of a batch run's members as judged.
func (b *batchState) rememberJudged(key, marks string) {
	if b.judged == nil || len(b.judged) >= maxJudged {
		b.judged = map[string]string{}
	}
	b.judged[key] = marks
}

// maxBatchInputs bounds the coins of one batch, so its transaction stays
// standard (weight, btc.MaxInputs) and its document small; members beyond
// it wait for the next batch.
const maxBatchInputs = 400

// maxBatchRuns bounds the batches this node signs at once: more than one,
// so a slow batch does not hold up the queue behind it; their signing
// sessions share the node's MaxAttempts slots (batch_run.go).
const maxBatchRuns = 3

type queuedMember struct {
	since   time.Time
	partner custody.Party
	// notBefore (this node's monotonic clock) keeps a member of an
	// unfinished batch out of the next one until the partner's session
	// for it has lapsed: the partner joins no member that is in another
	// live batch. The first tick after it cuts the member again.
	notBefore time.Duration
}

// BatchRef ties a member's result to its batch: the batch's ID and
// document (what every node re-derives the transaction from).
type BatchRef struct {
	ID  string          `json:"id"`
	Doc json.RawMessage `json:"doc"`
}

// batching reports whether req is paid in a liquidation batch here: a
// liquidation, with a Batcher, whose chain batches it (Chain.Batches: a
// liquidation paid on an EVM chain is signed on its own).
func (s *Service) batching(req custody.Request) bool {
	return s.o.Batcher != nil && req.Kind == custody.KindLiquidation && (s.o.Coins == nil || s.o.Coins.Batches(req))
}

// queueLocked queues an approved liquidation this node coordinates, once
// its coins are reserved (plannedHereLocked), and cuts a batch at once
// when the queue is full.
func (s *Service) queueLocked(id string, req custody.Request, partner custody.Party) {
	if !s.plannedHereLocked(id, req) {
		return
	}
	if q, ok := s.batch.queued[id]; ok {
		q.partner = partner // the pair that can sign now (custody.SigningPair)
		s.batch.queued[id] = q
	} else {
		s.batch.queued[id] = queuedMember{since: s.clock.Now(), partner: partner}
		s.log.Info("liquidation queued for the next batch", "request", short(id))
		if s.waiting[id] == "" {
			s.waiting[id] = "queued for the next liquidation batch"
		}
		s.notifyLocked()
		s.emit(Event{Type: EventStatus, RequestID: id, Party: s.party, Status: custody.StatusApproved, Detail: s.waiting[id]})
		s.batch.wakeLoop()
	}
	if len(s.batch.queued) >= s.pol.BatchMax() {
		s.cutLocked()
	}
}

// wakeLoop tells Start's loop to look at the next cut's time again.
func (b *batchState) wakeLoop() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// nextCutLocked is how long from now until a queued liquidation's batch
// is due (its window over, and any hold; <= 0: due now), so Start's loop
// cuts it then rather than at the next tick; false: nothing to wait for
// (nothing queued, or maxBatchRuns signing: the end of a run cuts the
// next).
func (s *Service) nextCutLocked() (time.Duration, bool) {
	if s.closed || len(s.batch.runs) >= maxBatchRuns || len(s.batch.queued) == 0 {
		return 0, false
	}
	now, mono, window := s.clock.Now(), s.clock.Monotonic(), s.pol.BatchWindow()
	next, first := time.Duration(0), true
	for _, q := range s.batch.queued {
		if d := max(q.since.Add(window).Sub(now), q.notBefore-mono); first || d < next {
			next, first = d, false
		}
	}
	return next, true
}

// cutBatch runs on every tick, and from Start's loop when a queued
// liquidation's window is over or a held member may go again
// (nextCutLocked).
func (s *Service) cutBatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.cutLocked()
	}
}

// cutLocked cuts batches while fewer than maxBatchRuns are being signed
// and one is due: when the oldest queued liquidation has waited a window,
// or the queue is full. A batch is up to BatchMax members that are still
// approved here (and at most maxBatchInputs coins), sorted by request ID,
// each with its reserved plan. A member the partner refused in the last
// batch goes only into a batch of its own, so it never holds up the
// others. The batch is counted once against liquidation_batches_per_day;
// its members' own attempts are not.
func (s *Service) cutLocked() {
	n, _ := s.network()
	if n == nil {
		return
	}
	for len(s.batch.runs) < maxBatchRuns && len(s.batch.queued) > 0 {
		pick := s.pickLocked(s.candidatesLocked())
		if len(pick) == 0 || !s.beginRunLocked(n, pick) {
			return
		}
	}
}

// cand is a queued liquidation with its plan.
type cand struct {
	id  string
	q   queuedMember
	req custody.Request
}

// candidatesLocked lists the queued liquidations that can go into a batch
// now, oldest first; it drops from the queue those that cannot any more
// (no longer approved, attempts spent, plan released).
func (s *Service) candidatesLocked() []cand {
	var cands []cand
	mono := s.clock.Monotonic()
	for id, q := range s.batch.queued {
		e, err := s.st.Get(id)
		if err != nil || e.Progress.Record.Status != custody.StatusApproved {
			delete(s.batch.queued, id)
			delete(s.batch.refused, id)
			continue
		}
		if e.Progress.Record.Attempts >= s.pol.MaxSigningAttempts {
			s.applyLocked(id, custody.EvFail, "signing attempts spent")
			delete(s.batch.queued, id)
			continue
		}
		req := s.plannedLocked(id, e.Request)
		if s.o.Coins != nil && s.o.Coins.Pays(req) && len(req.Inputs) == 0 {
			delete(s.batch.queued, id) // its plan was released: it queues again once planned
			continue
		}
		if mono < q.notBefore {
			continue
		}
		cands = append(cands, cand{id, q, req})
	}
	sort.Slice(cands, func(i, j int) bool {
		if !cands[i].q.since.Equal(cands[j].q.since) {
			return cands[i].q.since.Before(cands[j].q.since)
		}
		return cands[i].id < cands[j].id
	})
	return cands
}

// pickLocked chooses the next batch's members: the liquidations the
// partner did not refuse last time, when the oldest has waited a window
// or they fill a batch; else a refused one alone, once it has waited a
// window itself: it never holds up the others, nor waits for ever.
func (s *Service) pickLocked(cands []cand) []cand {
	now := s.clock.Now()
	due := func(c cand) bool { return now.Sub(c.q.since) >= s.pol.BatchWindow() }
	var normal []cand
	for _, c := range cands {
		if s.batch.refused[c.id] == "" {
			normal = append(normal, c)
		}
	}
	if len(normal) > 0 && (due(normal[0]) || len(normal) >= s.pol.BatchMax()) {
		var pick []cand
		partner, inputs := normal[0].q.partner, 0
		for _, c := range normal {
			if c.q.partner == partner && len(pick) < s.pol.BatchMax() && inputs+len(c.req.Inputs) <= maxBatchInputs {
				pick = append(pick, c)
				inputs += len(c.req.Inputs)
			}
		}
		return pick
	}
	for _, c := range cands {
		if s.batch.refused[c.id] != "" && due(c) {
			return []cand{c}
		}
	}
	return nil
}

// beginRunLocked begins a batch of pick: it counts the batch, begins
// every member's attempt and starts signing. It reports whether pick
// left the queue (false: stop cutting for now).
func (s *Service) beginRunLocked(n Network, pick []cand) bool {
	partner := pick[0].q.partner
	sort.Slice(pick, func(i, j int) bool { return pick[i].id < pick[j].id })
	r := &batchRun{b: Batch{Batch: BatchVersion}, partner: partner, nonce: newNonce(), cut: s.clock.Now()}
	for _, c := range pick {
		r.b.Members = append(r.b.Members, BatchMember{RequestID: c.id, Inputs: c.req.Inputs})
		r.members = append(r.members, c.req)
		r.since = append(r.since, c.q.since)
	}
	r.id = r.b.ID()
	class, limit := s.pol.CapOf(r.members[0])
	now := s.clock.Now()
	if _, err := s.st.BeginBatch(r.id, r.b.Canonical(), r.b.IDs(), custody.CapKey(custody.DayKey(now), class), limit); err != nil {
		for _, c := range pick {
			if errors.Is(err, store.ErrDailyCap) {
				s.applyLocked(c.id, custody.EvReject, "daily liquidation batch cap reached")
			}
			delete(s.batch.queued, c.id)
		}
		s.log.Warn("liquidation batch not begun", "batch", short(r.id), "err", err)
		return true
	}
	for i, c := range pick {
		if err := s.applyErrLocked(c.id, custody.EvBegin, fmt.Sprintf("batch %.12s with %s", r.id, partner)); err != nil {
			// Nothing is signed yet: members already begun go back.
			for _, d := range pick[:i] {
				s.applyLocked(d.id, custody.EvAbort, "batch not begun: "+clip(err.Error()))
			}
			delete(s.batch.queued, c.id) // stepped again from the store on the next tick
			return false
		}
	}
	for _, c := range pick {
		delete(s.batch.queued, c.id)
		delete(s.waiting, c.id)
	}
	s.batch.runs[r.id] = r
	s.log.Info("liquidation batch cut", "batch", short(r.id), "members", len(pick), "partner", partner, "batches", len(s.batch.runs))
	if !s.spawn(func() { s.coordinateBatch(n, r) }) {
		delete(s.batch.runs, r.id)
	}
	return true
}
