package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/custody/store"
	"github.com/triad-custody/triad/node"
)

// batchState is the coordinator's queue of approved liquidations (under
// mu): each waits for the next batch from the time it was queued.
type batchState struct {
	queued   map[string]queuedMember // request ID → when queued, with whom it signs
	inflight string                  // ID of the batch being signed, if any
	nonce    string                  // its attempt nonce
	refused  map[string]string       // member → why the partner refused it in the last batch
}

// maxBatchInputs bounds the coins of one batch, so its transaction stays
// standard (weight, btc.MaxInputs) and its document small; members beyond
// it wait for the next batch.
const maxBatchInputs = 400

type queuedMember struct {
	since   time.Time
	partner custody.Party
}

// BatchRef ties a member's result to its batch: the batch's ID and
// document (what every node re-derives the transaction from).
type BatchRef struct {
	ID  string          `json:"id"`
	Doc json.RawMessage `json:"doc"`
}

// batching reports whether req is paid in a liquidation batch here. A
// liquidation paid on an EVM chain (Coins says so: EVMPayer) is signed on
// its own, never in a Bitcoin batch.
func (s *Service) batching(req custody.Request) bool {
	return s.o.Batcher != nil && req.Kind == custody.KindLiquidation && !s.paysOnEVM(req)
}

// EVMPayer is what Coins implements when some requests are paid on an EVM
// chain (settle.Chains): PaysOnEVM reports whether req is one of them.
type EVMPayer interface {
	PaysOnEVM(req custody.Request) bool
}

func (s *Service) paysOnEVM(req custody.Request) bool {
	e, ok := s.o.Coins.(EVMPayer)
	return ok && e.PaysOnEVM(req)
}

// queueLocked queues an approved liquidation this node coordinates, once
// its coins are reserved (plannedHereLocked), and cuts a batch at once
// when the queue is full.
func (s *Service) queueLocked(id string, req custody.Request, partner custody.Party) {
	if !s.plannedHereLocked(id, req) {
		return
	}
	if s.batch.queued == nil {
		s.batch.queued = map[string]queuedMember{}
	}
	if q, ok := s.batch.queued[id]; ok {
		q.partner = partner // the pair that can sign now (signers.go)
		s.batch.queued[id] = q
	} else {
		s.batch.queued[id] = queuedMember{since: s.clock.Now(), partner: partner}
		s.log.Info("liquidation queued for the next batch", "request", short(id))
		if s.waiting[id] == "" {
			s.waiting[id] = "queued for the next liquidation batch"
		}
		s.notifyLocked()
		s.emit(Event{Type: EventStatus, RequestID: id, Party: s.party, Status: custody.StatusApproved, Detail: s.waiting[id]})
	}
	if len(s.batch.queued) >= s.pol.BatchMax() {
		s.cutLocked()
	}
}

// cutBatch runs on every tick.
func (s *Service) cutBatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.cutLocked()
	}
}

// cutLocked cuts a batch when the oldest queued liquidation has waited a
// window, or the queue is full: up to BatchMax members that are still
// approved here (and at most maxBatchInputs coins), sorted by request ID,
// each with its reserved plan. A member the partner refused in the last
// batch goes only into a batch of its own, so it never holds up the
// others. The batch is counted once against liquidation_batches_per_day;
// its members' own attempts are not.
func (s *Service) cutLocked() {
	n, _ := s.network()
	if s.batch.inflight != "" || len(s.batch.queued) == 0 || n == nil {
		return
	}
	now := s.clock.Now()
	type cand struct {
		id  string
		q   queuedMember
		req custody.Request
	}
	var cands []cand
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
		cands = append(cands, cand{id, q, req})
	}
	if len(cands) == 0 {
		return
	}
	sort.Slice(cands, func(i, j int) bool {
		if !cands[i].q.since.Equal(cands[j].q.since) {
			return cands[i].q.since.Before(cands[j].q.since)
		}
		return cands[i].id < cands[j].id
	})
	// The liquidations the partner did not refuse last time are cut when
	// the oldest has waited a window or they fill a batch; a refused one
	// is tried again alone, once it has waited a window itself, when no
	// such batch is due: it never holds up the others, nor waits for ever.
	var normal []cand
	for _, c := range cands {
		if s.batch.refused[c.id] == "" {
			normal = append(normal, c)
		}
	}
	due := func(c cand) bool { return now.Sub(c.q.since) >= s.pol.BatchWindow() }
	var pick []cand
	switch {
	case len(normal) > 0 && (due(normal[0]) || len(normal) >= s.pol.BatchMax()):
		partner, inputs := normal[0].q.partner, 0
		for _, c := range normal {
			if c.q.partner == partner && len(pick) < s.pol.BatchMax() && inputs+len(c.req.Inputs) <= maxBatchInputs {
				pick = append(pick, c)
				inputs += len(c.req.Inputs)
			}
		}
	default:
		for _, c := range cands {
			if s.batch.refused[c.id] != "" && due(c) {
				pick = []cand{c}
				break
			}
		}
		if len(pick) == 0 {
			return
		}
	}
	partner := pick[0].q.partner
	sort.Slice(pick, func(i, j int) bool { return pick[i].id < pick[j].id })
	b := Batch{Batch: BatchVersion}
	members := make([]custody.Request, len(pick))
	for i, c := range pick {
		b.Members = append(b.Members, BatchMember{RequestID: c.id, Inputs: c.req.Inputs})
		members[i] = c.req
	}
	bid := b.ID()
	class, limit := s.pol.CapOf(members[0])
	if _, err := s.st.BeginBatch(bid, b.Canonical(), b.IDs(), custody.CapKey(custody.DayKey(now), class), limit); err != nil {
		for _, c := range pick {
			if errors.Is(err, store.ErrDailyCap) {
				s.applyLocked(c.id, custody.EvReject, "daily liquidation batch cap reached")
			}
			delete(s.batch.queued, c.id)
		}
		s.log.Warn("liquidation batch not begun", "batch", short(bid), "err", err)
		return
	}
	for i, c := range pick {
		if err := s.applyErrLocked(c.id, custody.EvBegin, fmt.Sprintf("batch %.12s with %s", bid, partner)); err != nil {
			// Nothing is signed yet: members already begun go back.
			for _, d := range pick[:i] {
				s.applyLocked(d.id, custody.EvAbort, "batch not begun: "+clip(err.Error()))
			}
			return
		}
		delete(s.batch.queued, c.id)
		delete(s.waiting, c.id)
	}
	nonce := newNonce()
	s.batch.inflight, s.batch.nonce = bid, nonce
	s.log.Info("liquidation batch cut", "batch", short(bid), "members", len(pick), "partner", partner)
	if !s.spawn(func() { s.coordinateBatch(n, b, members, partner, nonce) }) {
		s.batch.inflight = ""
	}
}

// coordinateBatch signs every input of the batch (one node.Sign each),
// then records every member's result, or aborts them all.
func (s *Service) coordinateBatch(n Network, b Batch, members []custody.Request, partner custody.Party, nonce string) {
	// Every input is one signature, batchSigners at a time after the
	// first: the attempt's deadline grows with its inputs (each node.Sign
	// has its own sign_timeout inside it).
	inputs := 0
	for _, m := range b.Members {
		inputs += len(m.Inputs)
	}
	rounds := 2 + (inputs+batchSigners-1)/batchSigners
	ctx, cancel := context.WithTimeout(s.ctx, time.Duration(rounds)*s.o.SignTimeout)
	defer cancel()
	bid := b.ID()
	sigs, signers, err := s.signBatch(ctx, n, b, members, partner, nonce)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch.inflight, s.batch.nonce = "", ""
	if s.closed {
		return // members stay "signing"; recover() aborts them on restart
	}
	if err != nil {
		s.m.signFailures.Inc()
		refused := refusedMembers(err, partner)
		for _, m := range members {
			id := m.ID()
			s.appendAudit(KindFailure, id, string(s.party), []byte("batch "+bid+": "+err.Error()))
			s.applyLocked(id, custody.EvAbort, "batch "+short(bid)+": "+clip(err.Error()))
			if why, ok := refused[id]; ok {
				s.batch.refused[id] = why
				s.waiting[id] = "refused by " + string(partner) + " in batch " + short(bid) + ": " + why
			}
			if e, gerr := s.st.Get(id); gerr == nil && e.Progress.Record.Attempts >= s.pol.MaxSigningAttempts {
				s.applyLocked(id, custody.EvFail, "signing attempts spent: "+clip(err.Error()))
			}
			s.broadcastStatusLocked(id)
		}
		s.log.Warn("liquidation batch failed", "batch", short(bid), "refused", len(refused), "err", err)
		return
	}
	s.m.signatures.Inc()
	ref := &BatchRef{ID: bid, Doc: b.Canonical()}
	results := make([]Result, len(members))
	docs := make([][]byte, len(members))
	recs := make([]audit.Entry, len(members))
	for i, m := range members {
		results[i] = Result{Coordinator: string(s.party), Signers: signers, Signatures: sigs, Complete: true,
			Inputs: b.Members[i].Inputs, Batch: ref}
		docs[i], _ = json.Marshal(results[i])
		recs[i] = audit.Entry{Time: s.clock.Now(), Kind: KindSignature, RequestID: m.ID(), Party: string(s.party), Payload: results[i].digest()}
	}
	// Every member's result or none: a crash never splits a batch.
	if err := s.st.PutResults(b.IDs(), docs, recs); err != nil {
		s.log.Error("storing a batch's results", "batch", short(bid), "err", err)
		for _, m := range members {
			s.applyLocked(m.ID(), custody.EvAbort, "storing the batch's results: "+clip(err.Error()))
		}
		return
	}
	for i, m := range members {
		id := m.ID()
		res := results[i]
		delete(s.batch.refused, id)
		s.applyLocked(id, custody.EvSigned, "signed in batch "+short(bid)+" by "+strings.Join(signers, "+"))
		s.emit(Event{Type: EventSigned, RequestID: id, Party: s.party, Detail: "batch " + short(bid)})
		s.finishLocked(id, m.Base(), res)
	}
}

// batchSigners bounds the signing sessions one batch runs at once.
const batchSigners = 3

// signBatch signs each input's digest with that input's key: the first
// alone (the partner judges and joins the batch there), then the rest a
// few at a time. Each signature is checked against the key this node
// derives; the first failure ends the attempt.
func (s *Service) signBatch(ctx context.Context, n Network, b Batch, members []custody.Request, partner custody.Party, nonce string) ([]Signature, []string, error) {
	bid := b.ID()
	ins, err := s.o.Batcher.BatchDigests(ctx, bid, members)
	if err != nil {
		return nil, nil, fmt.Errorf("building batch %.12s: %w", bid, err)
	}
	sigs := make([]Signature, len(ins))
	signed := make([][]string, len(ins))
	one := func(ctx context.Context, i int) error {
		in := ins[i]
		out, err := n.Sign(ctx, node.SignRequest{KeyID: in.KeyID, RequestID: fmt.Sprintf("batch-%s/%d/%s", bid, i, nonce),
			Digest: in.Digest, ChildPath: in.ChildPath, Payload: b.Canonical(), Partner: string(partner)})
		if err != nil {
			return fmt.Errorf("signing input %d of %d: %w", i+1, len(ins), err)
		}
		sig := sigFrom(out.Signature)
		pub, err := s.publicKey(ctx, custody.Request{KeyID: in.KeyID, ChildPath: in.ChildPath})
		if err != nil {
			return err
		}
		if !verifySig(pub, in.Digest, sig) {
			return fmt.Errorf("batch %.12s: %w: signature %d", bid, ErrBadResult, i)
		}
		sigs[i], signed[i] = sig, out.Signers
		return nil
	}
	if err := one(ctx, 0); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		slots = make(chan struct{}, batchSigners)
	)
	for i := 1; i < len(ins); i++ {
		slots <- struct{}{}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := one(ctx, i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, nil, first
	}
	var signers []string
	for _, ps := range signed {
		for _, p := range ps {
			if !slices.Contains(signers, p) {
				signers = append(signers, p)
			}
		}
	}
	slices.Sort(signers)
	return sigs, signers, nil
}

var refusedRE = regexp.MustCompile(`batch member ([0-9a-f]{64}): ([^|]*)`)

// refusedMembers reads, from the signing error, the members the intended
// partner refused and why (its attempt only: the failover party's view
// is not the partner's). A peer's word only ever keeps a member out of
// the next batch; it never puts one in.
func refusedMembers(err error, partner custody.Party) map[string]string {
	msg := err.Error()
	var seg string
	for _, part := range strings.Split(msg, "; [") {
		if strings.Contains(part, string(partner)+"]: ") || strings.Contains(part, "["+string(partner)+" ") || strings.Contains(part, " "+string(partner)+"]") {
			seg = part
			break
		}
	}
	out := map[string]string{}
	for _, m := range refusedRE.FindAllStringSubmatch(seg, custody.MaxBatchMembers) {
		out[m[1]] = clip(strings.TrimSpace(m[2]))
	}
	return out
}

// tryAuthorizeBatch is a partner's decision on one input of a batch: it
// decodes the document strictly, and for every member checks that it is
// stored here, approved by this node's own policy now, signed by an
// approved pair, in no other live batch, and paid by coins its own
// Bitcoin node confirms belong to the member's account; it rebuilds the
// transaction and digests itself and joins only for the digest and key
// it computes for that input. A refusal names each refused member and why.
func (s *Service) tryAuthorizeBatch(keyID string, p *node.Proposal) error {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, a...))
	}
	if s.o.Batcher == nil {
		return refuse("this node pays no liquidation batches")
	}
	b, err := DecodeBatch(p.Payload)
	if err != nil {
		return refuse("payload: %v", err)
	}
	bid := b.ID()
	parts := strings.Split(p.RequestID, "/")
	if len(parts) != 3 || parts[0] != "batch-"+bid {
		return refuse("session request ID does not name the batch")
	}
	idx, err := parseIndex(parts[1])
	nonce := parts[2]
	if err != nil {
		return refuse("input %q", clip(parts[1]))
	}
	if len(p.Participants) != 2 || !slices.Contains(p.Participants, string(s.party)) {
		return refuse("participants %v", p.Participants)
	}
	other := p.Participants[0]
	if other == string(s.party) {
		other = p.Participants[1]
	}
	// The members as this node stored them, with the batch's plans.
	members := make([]custody.Request, len(b.Members))
	for i, m := range b.Members {
		e, err := s.st.Get(m.RequestID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: batch member %s: not stored here yet", ErrNotReady, m.RequestID)
		} else if err != nil {
			return refuse("batch member %s: %v", m.RequestID, err)
		}
		if e.Request.Kind != custody.KindLiquidation {
			return refuse("batch member %s: %s is not a liquidation", m.RequestID, e.Request.Kind)
		}
		members[i] = e.Request.WithInputs(m.Inputs)
	}
	cctx, cancel := context.WithTimeout(s.ctx, 2*s.o.AuthorizeWait)
	defer cancel()
	ins, err := s.o.Batcher.BatchDigests(cctx, bid, members)
	switch {
	case err != nil:
		return refuse("batch: %v", err)
	case idx >= len(ins):
		return refuse("no input %d in this batch", idx)
	case keyID != ins[idx].KeyID || p.ChildPath != ins[idx].ChildPath:
		return refuse("key or child path of input %d differs from its member's account", idx)
	case string(p.Digest) != string(ins[idx].Digest[:]):
		return refuse("digest of input %d is not the one this node computes from the batch", idx)
	}
	var refusals []string
	for _, m := range members {
		if err := s.checkPlan(cctx, m, nonce); err != nil {
			refusals = append(refusals, fmt.Sprintf("batch member %s: plan: %v", m.ID(), err))
		}
	}
	if len(refusals) > 0 {
		return refuse("%s", strings.Join(refusals, " | "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batch.inflight == bid && s.batch.nonce == nonce {
		return nil // this node's own batch: checked when cut
	}
	now := s.clock.Now()
	notReady := false
	for _, m := range members {
		id := m.ID()
		why, wait := s.judgeMemberLocked(id, p.Participants, now)
		if why == "" {
			continue
		}
		notReady = notReady || wait
		refusals = append(refusals, fmt.Sprintf("batch member %s: %s", id, why))
		if ls, ok := s.sessions["batch|"+id]; ok && ls.coordinator == bid {
			delete(s.sessions, "batch|"+id)
		}
	}
	if len(refusals) > 0 {
		if notReady && len(refusals) == len(members) {
			return fmt.Errorf("%w: %s", ErrNotReady, strings.Join(refusals, " | "))
		}
		return refuse("%s", strings.Join(refusals, " | "))
	}
	for _, m := range members {
		if ls, ok := s.sessions["batch|"+m.ID()]; ok && s.live(ls) && ls.coordinator != bid {
			return refuse("batch member %s: in another live batch %.12s", m.ID(), ls.coordinator)
		}
	}
	class, limit := s.pol.CapOf(members[0])
	if _, err := s.st.BeginBatch(bid, b.Canonical(), b.IDs(), custody.CapKey(custody.DayKey(now), class), limit); err != nil {
		return refuse("batch %.12s: %v", bid, err)
	}
	for _, m := range members {
		id := m.ID()
		if err := s.reservePlanLocked(id, m); err != nil {
			return refuse("batch member %s: plan: %v", id, err)
		}
		e, err := s.st.Get(id)
		if err != nil {
			return refuse("batch member %s: %v", id, err)
		}
		joining := "joining " + other + "'s batch " + short(bid)
		switch e.Progress.Record.Status {
		case custody.StatusProposed:
			if err := s.applyErrLocked(id, custody.EvApprove, "quorum "+strings.Join(p.Participants, "+")); err != nil {
				return refuse("batch member %s: %v", id, err)
			}
			fallthrough
		case custody.StatusApproved:
			if err := s.applyErrLocked(id, custody.EvBegin, joining); err != nil {
				return refuse("batch member %s: %v", id, err)
			}
		case custody.StatusSigning:
			if ls, ok := s.sessions["batch|"+id]; !ok || ls.coordinator != bid {
				s.applyLocked(id, custody.EvAbort, "coordinator began a new batch")
				if err := s.applyErrLocked(id, custody.EvBegin, joining); err != nil {
					return refuse("batch member %s: %v", id, err)
				}
			}
		default:
			return refuse("batch member %s: %s here", id, e.Progress.Record.Status)
		}
		s.sessions["batch|"+id] = s.joinedLocked(bid)
	}
	s.appendAudit(KindSession, bid, string(s.party), []byte("join batch|"+p.SessionID.String()))
	return nil
}

// judgeMemberLocked is this node's own verdict on one member for a
// session with participants: "" to sign, else why not (wait: it may
// still change, e.g. a fact in flight).
func (s *Service) judgeMemberLocked(id string, participants []string, now time.Time) (why string, wait bool) {
	e, err := s.st.Get(id)
	if err != nil {
		return err.Error(), false
	}
	st := e.Progress.Record.Status
	switch {
	case st.Terminal() || st == custody.StatusSigned:
		return fmt.Sprintf("%s here: %s", st, e.Progress.Record.Reason), false
	case st == custody.StatusProposed || st == custody.StatusApproved:
		s.stepLocked(id)
		if s.batch.queued[id].partner != "" {
			delete(s.batch.queued, id) // the peer's batch pays it; this node does not queue it too
		}
	}
	req, state, err := s.st.State(id, now)
	if err != nil {
		return err.Error(), false
	}
	if state.Record.Status.Terminal() {
		return fmt.Sprintf("%s here: %s", state.Record.Status, state.Record.Reason), false
	}
	state.Exposure, state.Credit = s.exposure(req.Account), s.credit(req, now)
	d := custody.Evaluate(s.pol, state, req, now)
	switch d.Verdict {
	case custody.VerdictRefuse:
		return "policy: " + reasons(d), transient(d)
	case custody.VerdictNeedOperator:
		return "needs an operator: " + reasons(d), true
	}
	signers := custody.QuorumFor(req.Kind).Signers(func(q custody.Party) bool {
		_, ok := state.Approvals[q]
		return slices.Contains(participants, string(q)) && (q == s.party || ok)
	})
	if len(signers) != len(participants) {
		return fmt.Sprintf("participants %v are not an approved quorum here", participants), true
	}
	return "", false
}

func parseIndex(s string) (int, error) {
	var i int
	if _, err := fmt.Sscanf(s, "%d", &i); err != nil || i < 0 || fmt.Sprint(i) != s {
		return 0, fmt.Errorf("bad index")
	}
	return i, nil
}

// verifyBatchResult checks a member's result that a peer reports: the
// batch document names the member with the result's plan, every member
// is stored here, every signature is over the digest this node computes
// from the batch and verifies under the input's key; then this node
// records the member's settlement (txid and output index) from the
// transaction it finalizes itself.
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
	members := make([]custody.Request, len(b.Members))
	found := false
	for i, m := range b.Members {
		e, err := s.st.Get(m.RequestID)
		if err != nil {
			return fmt.Errorf("result of %.12s: batch member %.12s: %w", id, m.RequestID, err)
		}
		members[i] = e.Request.WithInputs(m.Inputs)
		if m.RequestID == id {
			found = slices.Equal(m.Inputs, res.Inputs)
		}
	}
	if !found {
		return bad("not a member of batch %.12s with this plan", bid)
	}
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
	if !res.Complete || res.Coordinator == string(s.party) {
		return nil
	}
	return s.o.Batcher.SettleBatch(ctx, bid, members, res.Signatures, false)
}

// settleBatchResult is the coordinator's Finalizer for a batch member:
// finalize, record and broadcast the whole batch (idempotent: a
// transaction the Bitcoin node knows is not sent again).
func (s *Service) settleBatchResult(ctx context.Context, res Result) error {
	b, err := DecodeBatch(res.Batch.Doc)
	if err != nil {
		return err
	}
	members := make([]custody.Request, len(b.Members))
	for i, m := range b.Members {
		e, err := s.st.Get(m.RequestID)
		if err != nil {
			return fmt.Errorf("settling batch %.12s: member %.12s: %w", res.Batch.ID, m.RequestID, err)
		}
		members[i] = e.Request.WithInputs(m.Inputs)
	}
	return s.o.Batcher.SettleBatch(ctx, b.ID(), members, res.Signatures, true)
}
