package service

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/node"
)

// batchRun is one liquidation batch this node coordinates, from its cut
// to its end: one begun attempt of each member, in which every input of
// the batch transaction is signed once. Its members' plans are locked, so
// its document, and every input's digest, never change: an input that
// fails is tried again (inputTries) and the signatures already made are
// kept. Only a member refused by the partner, or one whose input cannot
// be signed at all, changes the batch: the run ends, that member is left
// out (refused: tried again alone later; unsignable: failed, its coins
// released) and the others go into the next batch at once.
type batchRun struct {
	id      string
	b       Batch
	members []custody.Request
	since   []time.Time // when each member was queued: it keeps its place
	partner custody.Party
	nonce   string    // the run's nonce; a retry of an input appends "-<try>"
	cut     time.Time // when it was cut (this node's clock)
}

// inputTries bounds the signing sessions one input of a batch gets in one
// round of a run; a run has two rounds (a storm on two cores fails
// sessions that are not at fault).
const inputTries = 3

// batchOutcome is how signing a batch ended: every signature, or the
// error, which input could not be signed (-1: none in particular) and
// whether the partner joined the batch (its sessions for the members are
// then live for a sign_timeout).
type batchOutcome struct {
	sigs     []Signature
	signers  []string
	err      error
	failed   int
	declined bool // the partner declined the failed input's last session (it judged, it did not fail to sign)
	joined   bool
	stats    batchStats
}

// batchStats is where a run's time went, for its timeline log line (the
// storm benchmark reads it): when its lead input and its last input were
// signed, the sessions it ran and how many failed, and the time its
// sessions waited for a signing slot and ran in one.
type batchStats struct {
	lead, signed       time.Time
	sessions, failures int
	slotWait, inSlot   time.Duration
}

// logTimeline logs one line per run with its timeline (Info): queued
// (its oldest member) → cut → lead input signed → every input signed.
func (s *Service) logTimeline(r *batchRun, out batchOutcome) {
	oldest := r.cut
	for _, t := range r.since {
		if t.Before(oldest) {
			oldest = t
		}
	}
	st := out.stats
	since := func(t time.Time) time.Duration {
		if t.IsZero() {
			return -1
		}
		return t.Sub(r.cut)
	}
	inputs := 0
	for _, m := range r.b.Members {
		inputs += len(m.Inputs)
	}
	s.log.Info("liquidation batch timeline", "batch", r.id, "members", len(r.members), "inputs", inputs,
		"signed", out.err == nil, "queued", oldest, "cut", r.cut, "to_lead", since(st.lead), "to_all", since(st.signed),
		"sessions", st.sessions, "failed_sessions", st.failures, "slot_wait", st.slotWait, "in_slot", st.inSlot)
}

// coordinateBatch signs every input of the run's batch, then records
// every member's result, or ends the run (endRunLocked).
func (s *Service) coordinateBatch(n Network, r *batchRun) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	out := s.signBatch(ctx, n, r)
	s.logTimeline(r, out)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return // members stay "signing"; recover() aborts them on restart
	}
	delete(s.batch.runs, r.id)
	if out.err != nil {
		s.endRunLocked(r, out)
	} else {
		s.recordBatchLocked(r, out.sigs, out.signers)
	}
	s.cutLocked()      // the next batch need not wait for a tick
	s.batch.wakeLoop() // nor one whose window ends later
}

// recordBatchLocked stores every member's result at once and finishes
// them (finalize, broadcast: settleBatchResult).
func (s *Service) recordBatchLocked(r *batchRun, sigs []Signature, signers []string) {
	s.m.signatures.Inc()
	ref := &BatchRef{ID: r.id, Doc: r.b.Canonical()}
	results := make([]Result, len(r.members))
	docs := make([][]byte, len(r.members))
	recs := make([]audit.Entry, len(r.members))
	for i, m := range r.members {
		results[i] = Result{Coordinator: s.party, Signers: parties(signers), Signatures: sigs, Complete: true,
			Inputs: r.b.Members[i].Inputs, Batch: ref}
		docs[i], _ = json.Marshal(results[i])
		recs[i] = audit.Entry{Time: s.clock.Now(), Kind: KindSignature, RequestID: m.ID(), Party: string(s.party), Payload: results[i].digest()}
	}
	// Every member's result or none: a crash never splits a batch.
	if err := s.st.PutResults(r.b.IDs(), docs, recs); err != nil {
		s.log.Error("storing a batch's results", "batch", short(r.id), "err", err)
		for _, m := range r.members {
			s.applyLocked(m.ID(), custody.EvAbort, "storing the batch's results: "+clip(err.Error()))
		}
		return
	}
	for i, m := range r.members {
		id := m.ID()
		delete(s.batch.refused, id)
		s.applyLocked(id, custody.EvSigned, "signed in batch "+short(r.id)+" by "+strings.Join(signers, "+"))
		s.emit(Event{Type: EventSigned, RequestID: id, Party: s.party, Detail: "batch " + short(r.id)})
		s.finishLocked(id, results[i].Coordinator)
	}
}

// endRunLocked ends a run that could not sign its batch. Members the
// partner refused wait to be tried alone; a member whose input could not
// be signed while the partner signed others fails alone (its coins are
// released); every other member goes back into the queue in its old
// place, held until the partner's sessions of this batch have lapsed when
// it joined it. A member whose attempts are spent fails.
func (s *Service) endRunLocked(r *batchRun, out batchOutcome) {
	s.m.signFailures.Inc()
	refused := refusedMembers(out.err, r.partner)
	var notBefore time.Duration // held until then on this node's clock; cut at the first tick after
	if out.joined {
		notBefore = s.clock.Monotonic() + s.o.SignTimeout
	}
	lost := ""
	if len(refused) == 0 && out.failed >= 0 && !out.declined && len(out.sigs) > 0 {
		lost = r.members[memberOfInput(r.b, out.failed)].ID()
	}
	for i, m := range r.members {
		id := m.ID()
		s.auditHere(KindFailure, id, []byte("batch "+r.id+": "+out.err.Error()))
		s.applyLocked(id, custody.EvAbort, "batch "+short(r.id)+": "+clip(out.err.Error()))
		switch e, gerr := s.st.Get(id); {
		case id == lost:
			s.applyLocked(id, custody.EvFail, fmt.Sprintf("its input %d could not be signed in two rounds of %d tries: %s", out.failed, inputTries, clip(out.err.Error())))
		case gerr == nil && e.Progress.Record.Attempts >= s.pol.MaxSigningAttempts:
			s.applyLocked(id, custody.EvFail, "signing attempts spent: "+clip(out.err.Error()))
		case refused[id] != "":
			s.batch.refused[id] = refused[id]
			s.waiting[id] = "refused by " + string(r.partner) + " in batch " + short(r.id) + ": " + refused[id]
		case gerr == nil && e.Progress.Record.Status == custody.StatusApproved:
			s.batch.queued[id] = queuedMember{since: r.since[i], partner: r.partner, notBefore: notBefore}
			s.waiting[id] = "queued for the next liquidation batch (batch " + short(r.id) + " could not be signed)"
		}
		s.broadcastStatusLocked(id)
	}
	s.log.Warn("liquidation batch failed", "batch", short(r.id), "refused", len(refused), "lost", short(lost), "err", out.err)
}

// memberOfInput is the index of the member whose coin is input i; a
// batch without coins (InterimBatcher) has one input per member.
func memberOfInput(b Batch, i int) int {
	k := i
	for m, bm := range b.Members {
		if k < len(bm.Inputs) {
			return m
		}
		k -= len(bm.Inputs)
	}
	return min(i, len(b.Members)-1)
}

// signBatch signs each input's digest with that input's key: a lead
// input alone (the partner judges and joins the batch there), then the
// rest in the node's signing slots, shared by every batch it signs. An
// input that fails is tried again, up to inputTries, keeping every
// signature made, and, when the partner signed the others, gets a second
// round of tries; a refusal naming members ends the run at once. When the
// lead input runs out of tries, the next member's first input leads
// instead: if it is signed, the partner is there, and the first input
// goes on with the others.
func (s *Service) signBatch(ctx context.Context, n Network, r *batchRun) batchOutcome {
	ins, err := s.o.Batcher.BatchDigests(ctx, r.id, r.members)
	if err != nil {
		return batchOutcome{err: fmt.Errorf("building batch %.12s: %w", r.id, err), failed: -1}
	}
	b := &batchSigning{s: s, n: n, r: r, ins: ins, sigs: make([]Signature, len(ins)), signed: make([][]string, len(ins)),
		tries: make([]int, len(ins)), failed: -1}
	if b.lead(ctx) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		b.round(ctx, cancel)
		if b.retryable(ctx) { // the partner signed the others: a second round for what failed
			b.mu.Lock()
			b.err, b.failed, b.declined = nil, -1, false
			b.mu.Unlock()
			b.round(ctx, cancel)
		}
	}
	return b.outcome()
}

// round signs every input not yet signed, in parallel (in the shared
// slots); a refusal naming members ends the run at once.
func (b *batchSigning) round(ctx context.Context, cancel context.CancelFunc) {
	var wg sync.WaitGroup
	for i := range b.ins {
		if b.has(i) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !b.input(ctx, i) && b.refused() {
				cancel()
			}
		}()
	}
	wg.Wait()
}

func (b *batchSigning) refused() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err != nil && len(refusedMembers(b.err, b.r.partner)) > 0
}

// retryable reports whether some input failed while the partner signed
// others, with no refusal: a second round may sign it.
func (b *batchSigning) retryable(ctx context.Context) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return ctx.Err() == nil && b.err != nil && b.done > 0 && b.done < len(b.ins) && len(refusedMembers(b.err, b.r.partner)) == 0
}

// lead signs the first input of the first member, else, when that input
// ran out of tries (no refusal), the first input of the second member.
func (b *batchSigning) lead(ctx context.Context) bool {
	if b.input(ctx, 0) {
		b.mu.Lock()
		b.stats.lead = b.s.clock.Now()
		b.mu.Unlock()
		return true
	}
	b.mu.Lock()
	alone := b.failed != 0 || len(refusedMembers(b.err, b.r.partner)) > 0
	b.mu.Unlock()
	next := len(b.r.b.Members[0].Inputs)
	if alone || ctx.Err() != nil || len(b.r.members) < 2 || next == 0 && len(b.ins) != len(b.r.members) {
		return false
	}
	if next == 0 {
		next = 1 // one input per member (InterimBatcher)
	}
	if next >= len(b.ins) || !b.input(ctx, next) { // the first input gets its next round with the others
		return false
	}
	b.mu.Lock()
	b.stats.lead = b.s.clock.Now()
	b.mu.Unlock()
	return true
}

func (b *batchSigning) has(i int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.signed[i] != nil
}

// batchSigning is one run's signing: what each input's sessions made.
type batchSigning struct {
	s   *Service
	n   Network
	r   *batchRun
	ins []BatchInput

	mu       sync.Mutex
	sigs     []Signature
	signed   [][]string
	done     int
	tries    []int // sessions begun per input
	err      error // the first error that ended the run
	failed   int   // its input, -1: none
	declined bool  // and the partner declined that input's last session
	joined   bool
	stats    batchStats
}

// input signs input i, trying again while it fails and nothing else has
// ended the run; it reports whether the input is signed.
func (b *batchSigning) input(ctx context.Context, i int) bool {
	var last error
	for range inputTries {
		wait := b.s.clock.Monotonic()
		if err := b.s.takeSlot(ctx); err != nil {
			break
		}
		began := b.s.clock.Monotonic()
		b.mu.Lock()
		try := b.tries[i] // every session of an input, in any round, has its own request ID
		b.tries[i]++
		b.stats.sessions++
		b.stats.slotWait += began - wait
		b.mu.Unlock()
		sig, signers, err := b.once(ctx, i, try)
		b.s.batch.slots <- struct{}{}
		b.mu.Lock()
		b.stats.inSlot += b.s.clock.Monotonic() - began
		if err != nil {
			b.stats.failures++
		}
		b.mu.Unlock()
		if err == nil {
			b.mu.Lock()
			b.sigs[i], b.signed[i], b.joined = sig, signers, true
			b.done++
			if b.done == len(b.ins) {
				b.stats.signed = b.s.clock.Now()
			}
			b.mu.Unlock()
			return true
		}
		last = err
		if ctx.Err() != nil || len(refusedMembers(err, b.r.partner)) > 0 {
			break // the run is over, or the partner refused members: the batch must change
		}
		b.s.log.Warn("batch input not signed; trying it again", "batch", short(b.r.id), "input", i, "try", try+1, "err", err)
		if partnerDeclined(err, b.r.partner) {
			continue // it waited for its facts before declining
		}
		b.mu.Lock()
		b.joined = true
		b.mu.Unlock()
		if !pause(ctx, retryPause) { // a session that failed under load: let it ease
			break
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	refusal := last != nil && len(refusedMembers(last, b.r.partner)) > 0
	if last != nil && (b.err == nil || refusal && len(refusedMembers(b.err, b.r.partner)) == 0) {
		// The first failure, unless a refusal comes after it: a refusal
		// says which members must leave the batch.
		b.err, b.failed, b.declined = last, i, partnerDeclined(last, b.r.partner)
	} else if b.err == nil {
		b.err = ctx.Err()
	}
	return false
}

// once is one signing session of input i.
func (b *batchSigning) once(ctx context.Context, i, try int) (Signature, []string, error) {
	in := b.ins[i]
	nonce := b.r.nonce
	if try > 0 {
		nonce = fmt.Sprintf("%s-%d", nonce, try)
	}
	out, err := b.n.Sign(ctx, node.SignRequest{KeyID: in.KeyID, RequestID: custody.SessionName{Request: batchSession(b.r.id), Input: i, Attempt: nonce}.String(),
		Digest: in.Digest, ChildPath: in.ChildPath, Payload: b.r.b.Canonical(), Partner: string(b.r.partner),
		Only: true}) // a liquidation's quorum is this node and the partner: no fallback can sign
	if err != nil {
		return Signature{}, nil, fmt.Errorf("signing input %d of %d: %w", i+1, len(b.ins), err)
	}
	sig := sigFrom(out.Signature)
	pub, err := b.s.publicKey(ctx, custody.Request{KeyID: in.KeyID, ChildPath: in.ChildPath})
	if err != nil {
		return Signature{}, nil, err
	}
	if !verifySig(pub, in.Digest, sig) {
		return Signature{}, nil, fmt.Errorf("batch %.12s: %w: signature %d", b.r.id, ErrBadResult, i)
	}
	return sig, out.Signers, nil
}

// batchSession is the request part of the session names of batch id's
// inputs (custody.SessionName: "batch-<id>/<input>/<attempt>").
func batchSession(id string) string { return "batch-" + id }

// outcome is the run's result once every input is signed or given up.
func (b *batchSigning) outcome() batchOutcome {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done < len(b.ins) {
		err := b.err
		if err == nil {
			err = fmt.Errorf("batch %.12s: %d of %d inputs signed", b.r.id, b.done, len(b.ins))
		}
		var sigs []Signature
		if b.done > 0 {
			sigs = b.sigs // what the partner signed: it was there
		}
		return batchOutcome{err: err, failed: b.failed, declined: b.declined, joined: b.joined, sigs: sigs, stats: b.stats}
	}
	var signers []string
	for _, ps := range b.signed {
		for _, p := range ps {
			if !slices.Contains(signers, p) {
				signers = append(signers, p)
			}
		}
	}
	slices.Sort(signers)
	return batchOutcome{sigs: b.sigs, signers: signers, failed: -1, joined: true, stats: b.stats}
}

// retryPause is the pause before an input's next session after one that
// failed (not declined).
const retryPause = time.Second

// pause waits d, or until ctx ends (false).
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// takeSlot waits for one of the signing slots every batch shares.
func (s *Service) takeSlot(ctx context.Context) error {
	select {
	case <-s.batch.slots:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var refusedRE = regexp.MustCompile(`batch member ([0-9a-f]{64}): ([^|]*)`)

// refusedMembers reads, from the signing error, the members the intended
// partner refused and why (its attempt only: the failover party's view
// is not the partner's). A member the partner only waits for is named
// "batch member ID not ready: …" and is not refused. A peer's word only
// ever keeps a member out of the next batch; it never puts one in.
func refusedMembers(err error, partner custody.Party) map[string]string {
	out := map[string]string{}
	for _, m := range refusedRE.FindAllStringSubmatch(partnerSegment(err, partner), custody.MaxBatchMembers) {
		out[m[1]] = clip(strings.TrimSpace(m[2]))
	}
	return out
}

// partnerDeclined reports whether the partner declined the session (it
// joined nothing).
func partnerDeclined(err error, partner custody.Party) bool {
	return strings.Contains(partnerSegment(err, partner), node.ErrDeclined.Error()+": "+string(partner))
}

// partnerSegment is the part of a signing error about the attempt with
// partner (node.Sign lists each pair's attempt, "; "-separated).
func partnerSegment(err error, partner custody.Party) string {
	for _, part := range strings.Split(err.Error(), "; [") {
		if strings.Contains(part, string(partner)+"]: ") || strings.Contains(part, "["+string(partner)+" ") || strings.Contains(part, " "+string(partner)+"]") {
			return part
		}
	}
	return ""
}
