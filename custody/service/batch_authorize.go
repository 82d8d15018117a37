package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/store"
	"github.com/triad-custody/triad/node"
)

func refusef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, a...))
}

// batchProposal is a batch input's signing proposal, decoded.
type batchProposal struct {
	b       Batch
	id      string
	input   int
	nonce   string // the coordinator's run nonce (without a retry's "-<try>")
	other   string // the coordinator
	members []custody.Request
}

// tryAuthorizeBatch is a partner's decision on one input of a batch: it
// decodes the document strictly, and for every member checks that it is
// stored here, approved by this node's own policy now, signed by an
// approved pair, in no other live batch, and paid by coins its own
// Bitcoin node confirms belong to the member's account; it rebuilds the
// transaction and digests itself and joins only for the digest and key
// it computes for that input. A refusal names each refused member and
// why; a member it only waits for (a fact still in flight) is named "not
// ready", and when no member is refused it waits (ErrNotReady).
func (s *Service) tryAuthorizeBatch(keyID string, p *node.Proposal) error {
	if s.o.Batcher == nil {
		return refusef("this node pays no liquidation batches")
	}
	bp, err := s.decodeBatchProposal(p)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(s.ctx, 2*s.o.AuthorizeWait)
	defer cancel()
	if err := s.checkBatchInput(cctx, keyID, p, bp); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.batch.runs[bp.id]; r != nil && r.nonce == bp.nonce {
		return nil // this node's own batch: checked when cut
	}
	key := bp.id + " " + bp.nonce + " " + strings.Join(p.Participants, "+")
	if marks, ok := s.memberMarksLocked(bp.members); ok && s.batch.judged[key] == marks {
		// Judged and joined for this run, and nothing changed here
		// since: every member is reserved and signing in this batch.
		if err := s.elsewhereLocked(bp); err != nil {
			return err
		}
		s.joinedSessionLocked(bp, p)
		return nil
	}
	if err := s.judgeBatchLocked(bp, p.Participants); err != nil {
		return err
	}
	if err := s.joinBatchLocked(bp, p); err != nil {
		return err
	}
	if marks, ok := s.memberMarksLocked(bp.members); ok {
		s.batch.rememberJudged(key, marks)
	}
	return nil
}

// memberMarksLocked is what this node's verdict on a batch's members
// rests on, as stored: each member's status, reason, last update and
// its attempts and how many approvals and vetoes it has. A partner judges
// the members of a batch run once (its first input's session) and
// again for a later input only when these changed: a storm's batch of
// 50 inputs was 50 × 50 judgments at the partner.
func (s *Service) memberMarksLocked(members []custody.Request) (string, bool) {
	var b strings.Builder
	for _, m := range members {
		e, err := s.st.Get(m.ID())
		if err != nil {
			return "", false
		}
		r := e.Progress.Record
		fmt.Fprintf(&b, "%s %s %q %d %d %d %d\n", m.ID(), r.Status, r.Reason, r.UpdatedAt.UnixNano(),
			r.Attempts, len(e.Progress.Approvals), len(e.Progress.Vetoes))
	}
	return b.String(), true
}

// decodeBatchProposal decodes the document and the session's request ID
// ("batch-<id>/<input>/<nonce>") and loads every member as stored here,
// with the batch's plan.
func (s *Service) decodeBatchProposal(p *node.Proposal) (*batchProposal, error) {
	b, err := DecodeBatch(p.Payload)
	if err != nil {
		return nil, refusef("payload: %v", err)
	}
	bp := &batchProposal{b: b, id: b.ID()}
	name, err := custody.ParseSessionName(p.RequestID)
	if err != nil {
		return nil, refusef("session: %v", err)
	}
	if name.Request != batchSession(bp.id) {
		return nil, refusef("session request ID does not name the batch")
	}
	bp.input = name.Input
	bp.nonce, _, _ = strings.Cut(name.Attempt, "-")
	if len(p.Participants) != 2 || !slices.Contains(p.Participants, string(s.party)) {
		return nil, refusef("participants %v", p.Participants)
	}
	bp.other = p.Participants[0]
	if bp.other == string(s.party) {
		bp.other = p.Participants[1]
	}
	bp.members = make([]custody.Request, len(b.Members))
	for i, m := range b.Members {
		e, err := s.st.Get(m.RequestID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: batch member %s not ready: not stored here yet", ErrNotReady, m.RequestID)
		} else if err != nil {
			return nil, refusef("batch member %s: %v", m.RequestID, err)
		}
		if e.Request.Kind != custody.KindLiquidation {
			return nil, refusef("batch member %s: %s is not a liquidation", m.RequestID, e.Request.Kind)
		}
		bp.members[i] = e.Request.WithInputs(m.Inputs)
	}
	return bp, nil
}

// checkBatchInput rebuilds the batch: the proposal must be for the key,
// child path and digest this node computes for its input, and every
// member's plan must check out on this node's own Bitcoin node (once per
// run).
func (s *Service) checkBatchInput(ctx context.Context, keyID string, p *node.Proposal, bp *batchProposal) error {
	ins, err := s.o.Batcher.BatchDigests(ctx, bp.id, bp.members)
	switch {
	case err != nil:
		return refusef("batch: %v", err)
	case bp.input >= len(ins):
		return refusef("no input %d in this batch", bp.input)
	case keyID != ins[bp.input].KeyID || p.ChildPath != ins[bp.input].ChildPath:
		return refusef("key or child path of input %d differs from its member's account", bp.input)
	case string(p.Digest) != string(ins[bp.input].Digest[:]):
		return refusef("digest of input %d is not the one this node computes from the batch", bp.input)
	}
	errs := make([]error, len(bp.members))
	parallel(len(bp.members), batchChecks, func(i int) { errs[i] = s.checkPlan(ctx, bp.members[i], bp.nonce) })
	var refusals []string
	for i, err := range errs {
		if err != nil {
			refusals = append(refusals, fmt.Sprintf("batch member %s: plan: %v", bp.members[i].ID(), err))
		}
	}
	if len(refusals) > 0 {
		return refusef("%s", strings.Join(refusals, " | "))
	}
	return nil
}

// batchChecks bounds the members whose coins one batch session looks up
// on this node's Bitcoin node at once (its RPC client bounds the calls
// of all of them again): one after another, a batch of 50 members
// waited for 50 round trips before its first session could begin.
const batchChecks = 8

// parallel runs f(0..n-1), at most limit at a time, and returns when
// every call has.
func parallel(n, limit int, f func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// judgeBatchLocked is this node's own verdict on every member now, and
// that none is in another live batch here.
func (s *Service) judgeBatchLocked(bp *batchProposal, participants []string) error {
	now := s.clock.Now()
	var refusals, waits []string
	for _, m := range bp.members {
		id := m.ID()
		why, wait := s.judgeMemberLocked(id, participants, now)
		switch {
		case why == "":
			continue
		case wait:
			waits = append(waits, fmt.Sprintf("batch member %s not ready: %s", id, why))
		default:
			refusals = append(refusals, fmt.Sprintf("batch member %s: %s", id, why))
		}
		if ls, ok := s.sessions["batch|"+id]; ok && ls.coordinator == bp.id {
			delete(s.sessions, "batch|"+id)
		}
	}
	if len(refusals) > 0 {
		return refusef("%s", strings.Join(append(refusals, waits...), " | "))
	}
	if len(waits) > 0 {
		return fmt.Errorf("%w: %s", ErrNotReady, strings.Join(waits, " | "))
	}
	return s.elsewhereLocked(bp)
}

// elsewhereLocked refuses a batch one of whose members is in another
// live batch here.
func (s *Service) elsewhereLocked(bp *batchProposal) error {
	for _, m := range bp.members {
		if ls, ok := s.sessions["batch|"+m.ID()]; ok && s.live(ls) && ls.coordinator != bp.id {
			return refusef("batch member %s: in another live batch %.12s", m.ID(), ls.coordinator)
		}
	}
	return nil
}

// joinBatchLocked counts the batch (once per batch ID), reserves and
// locks every member's plan and begins (or keeps) every member's attempt
// in this batch.
func (s *Service) joinBatchLocked(bp *batchProposal, p *node.Proposal) error {
	class, limit := s.pol.CapOf(bp.members[0])
	if _, err := s.st.BeginBatch(bp.id, bp.b.Canonical(), bp.b.IDs(), custody.CapKey(custody.DayKey(s.clock.Now()), class), limit); err != nil {
		return refusef("batch %.12s: %v", bp.id, err)
	}
	joining := "joining " + bp.other + "'s batch " + short(bp.id)
	for _, m := range bp.members {
		id := m.ID()
		if err := s.reservePlanLocked(id, m); err != nil {
			return refusef("batch member %s: plan: %v", id, err)
		}
		if err := s.beginMemberLocked(id, bp.id, joining, p.Participants); err != nil {
			return refusef("batch member %s: %v", id, err)
		}
	}
	s.joinedSessionLocked(bp, p)
	return nil
}

// joinedSessionLocked records that this node joins p's session of batch
// bp: every member's session is live until the sign timeout.
func (s *Service) joinedSessionLocked(bp *batchProposal, p *node.Proposal) {
	for _, m := range bp.members {
		s.sessions["batch|"+m.ID()] = s.joinedLocked(bp.id)
	}
	s.auditHere(KindSession, bp.id, []byte("join batch|"+p.SessionID.String()))
}

// beginMemberLocked moves a member this partner joins into signing in
// batch bid.
func (s *Service) beginMemberLocked(id, bid, joining string, participants []string) error {
	e, err := s.st.Get(id)
	if err != nil {
		return err
	}
	switch e.Progress.Record.Status {
	case custody.StatusProposed:
		if err := s.applyErrLocked(id, custody.EvApprove, "quorum "+strings.Join(participants, "+")); err != nil {
			return err
		}
		return s.applyErrLocked(id, custody.EvBegin, joining)
	case custody.StatusApproved:
		return s.applyErrLocked(id, custody.EvBegin, joining)
	case custody.StatusSigning:
		if ls, ok := s.sessions["batch|"+id]; !ok || ls.coordinator != bid {
			s.applyLocked(id, custody.EvAbort, "coordinator began a new batch")
			return s.applyErrLocked(id, custody.EvBegin, joining)
		}
		return nil
	}
	return fmt.Errorf("%s here", e.Progress.Record.Status)
}

// judgeMemberLocked is this node's own verdict on one member for a
// session with participants: "" to sign, else why not (wait: it may
// still change, e.g. a fact in flight). It gathers the facts from its
// own store and clock, and custody.DecideBatchMember decides.
func (s *Service) judgeMemberLocked(id string, participants []string, now time.Time) (why string, wait bool) {
	e, err := s.st.Get(id)
	if err != nil {
		return err.Error(), false
	}
	f := custody.BatchMemberFacts{Status: e.Progress.Record.Status, Reason: e.Progress.Record.Reason, Now: now}
	if f.Status == custody.StatusProposed || f.Status == custody.StatusApproved {
		s.stepLocked(id)
		if s.batch.queued[id].partner != "" {
			delete(s.batch.queued, id) // the peer's batch pays it; this node does not queue it too
		}
	}
	req, state, err := s.st.State(id, now)
	f.State, f.StateErr = state, err
	if err == nil {
		f.State.Exposure = s.exposure(req.Account)
	}
	s.m.judgments.Inc()
	d := custody.DecideBatchMember(s.pol, req, parties(participants), f)
	if d.Verdict == custody.JoinYes {
		return "", false
	}
	return d.Reason, d.Verdict == custody.JoinWait
}

// verifyBatchResult checks a member's result that a peer reports: the
// batch document names the member with the result's plan, every member
// is stored here, every signature is over the digest this node computes
// from the batch and verifies under the input's key; then this node
// records the member's settlement (txid and output index) from the
// transaction it finalizes itself.
//
// Every member of a batch carries the same signatures: they are verified
// (and the batch settled here) once per batch and set of signatures, not
// once per member — a batch of 50 was 50 × 50 signature checks and 50 ×
// 50 store reads at every peer.
func (s *Service) verifyBatchResult(ctx context.Context, req custody.Request, res Result) error {
	id := req.ID()
	bad := func(format string, a ...any) error {
		return fmt.Errorf("result of %.12s: %w: %s", id, ErrBadResult, fmt.Sprintf(format, a...))
	}
	if s.o.Batcher == nil {
		return bad("a batch result, and this node pays no batches")
	}
	b, err := DecodeBatch(res.Batch.Doc)
	if err != nil {
		return bad("%v", err)
	}
	bid := b.ID()
	if bid != res.Batch.ID {
		return bad("batch ID is not its document's")
	}
	if !slices.ContainsFunc(b.Members, func(m BatchMember) bool { return m.RequestID == id && slices.Equal(m.Inputs, res.Inputs) }) {
		return bad("not a member of batch %.12s with this plan", bid)
	}
	verified := "verified " + bid + " " + sigsKey(res)
	settle := res.Complete && res.Coordinator != s.party
	if s.checked.seen(verified) && (!settle || s.checked.seen("settled "+bid)) {
		return nil
	}
	members := make([]custody.Request, len(b.Members))
	for i, m := range b.Members {
		e, err := s.st.Get(m.RequestID)
		if err != nil {
			return fmt.Errorf("result of %.12s: batch member %.12s: %w", id, m.RequestID, err)
		}
		members[i] = e.Request.WithInputs(m.Inputs)
	}
	if !s.checked.seen(verified) {
		if err := s.verifyBatchSigs(ctx, bid, members, res, bad); err != nil {
			return err
		}
		s.checked.add(verified)
	}
	if !settle {
		return nil
	}
	if err := s.o.Batcher.SettleBatch(ctx, bid, members, res.Signatures, false); err != nil {
		return err
	}
	s.checked.add("settled " + bid)
	return nil
}

// verifyBatchSigs checks res's signatures against the digests this node
// computes for batch bid of members, each under its input's key.
func (s *Service) verifyBatchSigs(ctx context.Context, bid string, members []custody.Request, res Result, bad func(string, ...any) error) error {
	ins, err := s.o.Batcher.BatchDigests(ctx, bid, members)
	if err != nil {
		return err
	}
	if len(res.Signatures) > len(ins) || res.Complete != (len(res.Signatures) == len(ins)) {
		return bad("%d signatures for %d inputs", len(res.Signatures), len(ins))
	}
	for i, sig := range res.Signatures {
		pub, err := s.publicKey(ctx, custody.Request{KeyID: ins[i].KeyID, ChildPath: ins[i].ChildPath})
		if err != nil {
			return err
		}
		if !verifySig(pub, ins[i].Digest, sig) {
			return bad("signature %d", i)
		}
	}
	return nil
}

// sigsKey names a result's set of signatures (and whether it is
// complete): a hash of them, for the set of verified batches.
func sigsKey(res Result) string {
	h := sha256.New()
	fmt.Fprintf(h, "%t %d\n", res.Complete, len(res.Signatures))
	for _, sig := range res.Signatures {
		fmt.Fprintf(h, "%x %s %s %d\n", sig.Digest, sig.R, sig.S, sig.Recovery) // nil R or S prints <nil>: never verified
	}
	return hex.EncodeToString(h.Sum(nil))
}

// settleBatchResult is the coordinator's Finalizer for a batch member:
// finalize, record and broadcast the whole batch (idempotent: a
// transaction the Bitcoin node knows is not sent again). Every member's
// result carries the batch's signatures: once the batch is settled with
// them, the other members' results need nothing more — each one read
// every member and every member's settlement record again (50 × 50 per
// batch).
func (s *Service) settleBatchResult(ctx context.Context, res Result) error {
	b, err := DecodeBatch(res.Batch.Doc)
	if err != nil {
		return err
	}
	// The members' finalizers run at once: one settles, the others then
	// find it settled.
	s.settleMu.Lock()
	defer s.settleMu.Unlock()
	settled := "finalized " + b.ID() + " " + sigsKey(res)
	if s.checked.seen(settled) {
		return nil
	}
	members := make([]custody.Request, len(b.Members))
	for i, m := range b.Members {
		e, err := s.st.Get(m.RequestID)
		if err != nil {
			return fmt.Errorf("settling batch %.12s: member %.12s: %w", res.Batch.ID, m.RequestID, err)
		}
		members[i] = e.Request.WithInputs(m.Inputs)
	}
	if err := s.o.Batcher.SettleBatch(ctx, b.ID(), members, res.Signatures, true); err != nil {
		return err
	}
	s.checked.add(settled)
	return nil
}
