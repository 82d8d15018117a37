package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/store"
)

// API roles (api.Roles).
const (
	RoleAdmin        = "admin"
	RoleOperator     = "operator"
	RoleMarginEngine = "margin-engine"
	RoleAuditor      = "auditor"
)

// Caller is an authenticated API caller.
type Caller struct {
	Name string
	Role string
}

// Submit validates a request from a caller of this node, stores it (the
// same idempotency key again returns the stored request, created false),
// proposes it to the peers and evaluates it. The node fills in the
// requester (this party and the caller's name) and, when absent,
// created_at. A policy refusal is not an error: the view says rejected.
func (s *Service) Submit(ctx context.Context, c Caller, draft custody.Request) (View, bool, error) {
	if err := s.checkSubmitter(c, draft); err != nil {
		return View{}, false, err
	}
	draft.Requester = custody.Requester{Party: s.party, Caller: c.Name}
	if draft.CreatedAt.IsZero() {
		draft.CreatedAt = s.firstCreatedAt(c, draft.IdempotencyKey)
	}
	req := draft.Normalize()
	if err := req.Validate(); err != nil {
		return View{}, false, err
	}
	if err := s.pol.CheckFeeRate(req); err != nil {
		return View{}, false, fmt.Errorf("submitting: %w", err)
	}
	s.mu.Lock()
	e, created, err := s.st.Propose(req, s.clock.Now())
	if err == nil && created {
		s.notifyLocked()
	}
	s.mu.Unlock()
	if err != nil {
		return View{}, false, err
	}
	id := e.Request.ID()
	if created {
		s.m.requests.WithLabelValues(string(req.Kind)).Inc()
		s.log.Info("request accepted", "request", short(id), "kind", req.Kind, "caller", c.Name)
		s.emit(Event{Type: EventRequest, RequestID: id, Party: s.party, Status: custody.StatusProposed, Detail: string(req.Kind)})
		s.broadcast(message{Type: msgPropose, RequestID: id, Request: e.Request.Canonical()})
	}
	s.step(id)
	v, err := s.Get(id)
	return v, created, err
}

// checkSubmitter refuses a draft its caller may not submit here, or one
// carrying what only the nodes choose (inputs, an EVM plan).
func (s *Service) checkSubmitter(c Caller, draft custody.Request) error {
	switch {
	case c.Role == RoleMarginEngine && draft.Kind != custody.KindLiquidation:
		return fmt.Errorf("submitting %q: %w: the margin engine may only request liquidations", clip(string(draft.Kind)), ErrForbidden)
	case c.Role != RoleMarginEngine && c.Role != RoleOperator && c.Role != RoleAdmin:
		return fmt.Errorf("submitting: %w: role %q may not create requests", ErrForbidden, c.Role)
	case draft.Kind == custody.KindLiquidation && c.Role != RoleMarginEngine && c.Role != RoleAdmin:
		return fmt.Errorf("submitting liquidation: %w: only the margin engine requests liquidations", ErrForbidden)
	case draft.Requester.Party != "" && draft.Requester.Party != s.party:
		return fmt.Errorf("submitting: %w: this is the %s node, not %s's", ErrForbidden, s.party, clip(draft.Requester.Party))
	case len(draft.Inputs) > 0:
		return fmt.Errorf("submitting: %w: inputs: the nodes choose and reserve the coins when signing begins; leave inputs out", custody.ErrMalformed)
	case draft.EVM != nil:
		return fmt.Errorf("submitting: %w: evm: the coordinator plans the EVM transaction when signing begins; leave evm out", custody.ErrMalformed)
	case draft.Requester.Caller != "" && draft.Requester.Caller != c.Name:
		return fmt.Errorf("submitting: %w: requester.caller must be the authenticated caller %q", ErrForbidden, c.Name)
	}
	return nil
}

// firstCreatedAt is when a request submitted without created_at was
// created: now, or, for a retry of a stored one (same caller and
// idempotency key), its stored time: it is the same request.
func (s *Service) firstCreatedAt(c Caller, key string) time.Time {
	if id, ok, err := s.st.Lookup(s.party, c.Name, key); err == nil && ok {
		if e, err := s.st.Get(id); err == nil {
			return e.Request.CreatedAt
		}
	}
	return s.clock.Now()
}

// Endorse records an operator's signed approval or veto submitted to this
// node, after checking it with this node's own policy and clock; its nonce
// is consumed (a replay fails with custody.ErrReplay). Peers get it and
// check it themselves.
func (s *Service) Endorse(ctx context.Context, a custody.Approval) (View, error) {
	s.mu.Lock()
	e, err := s.st.Get(a.RequestID)
	if err != nil {
		s.mu.Unlock()
		return View{}, err
	}
	err = s.recordApprovalLocked(e.Request, a)
	s.mu.Unlock()
	if err != nil {
		s.m.approvals.WithLabelValues(string(a.Stance), approvalResult(err)).Inc()
		return View{}, err
	}
	s.broadcast(message{Type: msgEndorse, RequestID: a.RequestID, Request: e.Request.Canonical(), Approval: &a})
	s.step(a.RequestID)
	return s.Get(a.RequestID)
}

func (s *Service) recordApprovalLocked(req custody.Request, a custody.Approval) error {
	now := s.clock.Now()
	if err := custody.VerifyApproval(s.pol, a, req, now); err != nil {
		return err
	}
	if _, err := s.st.AddApproval(req.ID(), a, now); err != nil {
		return err
	}
	s.m.approvals.WithLabelValues(string(a.Stance), "accepted").Inc()
	s.notifyLocked()
	typ := EventApproval
	if a.Stance == custody.Veto {
		typ = EventVeto
	}
	s.emit(Event{Type: typ, RequestID: req.ID(), Party: a.Party, Detail: a.Operator})
	s.log.Info("recorded "+string(a.Stance), "request", short(req.ID()), "by", a.Party, "operator", a.Operator)
	return nil
}

func approvalResult(err error) string {
	switch {
	case errors.Is(err, custody.ErrReplay):
		return "replay"
	case errors.Is(err, custody.ErrExpired):
		return "expired"
	case errors.Is(err, custody.ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, custody.ErrMismatch):
		return "mismatch"
	}
	return "refused"
}

// onPropose stores a request a peer's node accepted for its own party.
func (s *Service) onPropose(from custody.Party, m message) error {
	req, err := custody.DecodeCanonicalRequest(m.Request)
	if err != nil {
		return err
	}
	if req.Requester.Party != from {
		return fmt.Errorf("proposal of %.12s: %w: %s proposed a request of %s", req.ID(), ErrForbidden, from, req.Requester.Party)
	}
	if err := s.store(req); err != nil {
		return err
	}
	s.unpark(req.ID())
	s.step(req.ID())
	return nil
}

func (s *Service) store(req custody.Request) error {
	s.mu.Lock()
	_, created, err := s.st.Propose(req, s.clock.Now())
	if err == nil && created {
		s.notifyLocked()
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if created {
		s.m.requests.WithLabelValues(string(req.Kind)).Inc()
		s.emit(Event{Type: EventRequest, RequestID: req.ID(), Party: req.Requester.Party, Status: custody.StatusProposed, Detail: string(req.Kind)})
	}
	return nil
}

// onEndorse records a peer's signed approval or veto (verified here, with
// this node's policy) or the peer's own automatic approval.
func (s *Service) onEndorse(from custody.Party, m message) error {
	req, err := custody.DecodeCanonicalRequest(m.Request)
	if err != nil {
		return err
	}
	id := req.ID()
	if _, err := s.st.Get(id); errors.Is(err, store.ErrNotFound) {
		if req.Requester.Party != from {
			s.park(id, string(from), m)
			return nil
		}
		if err := s.store(req); err != nil {
			return err
		}
		defer s.unpark(id)
	}
	s.mu.Lock()
	switch {
	case m.Auto && m.Approval == nil:
		_, err = s.st.AddAutoApproval(id, from, s.clock.Now())
		if err == nil {
			s.notifyLocked()
			s.emit(Event{Type: EventApproval, RequestID: id, Party: from, Detail: "auto"})
		}
	case m.Approval != nil && !m.Auto:
		if m.Approval.RequestID != id {
			err = fmt.Errorf("endorsement: %w: approval for another request", custody.ErrMismatch)
		} else {
			err = s.recordApprovalLocked(req, *m.Approval)
		}
	default:
		err = fmt.Errorf("endorsement: %w: want a signed approval or auto", custody.ErrMalformed)
	}
	s.mu.Unlock()
	if errors.Is(err, custody.ErrReplay) {
		err = nil // this node already has it (its operator submitted it here too)
	}
	s.step(id)
	return err
}

// onStatus records a peer's view; a verified signature is recorded too.
func (s *Service) onStatus(from custody.Party, m message) error {
	if m.Status == nil {
		return fmt.Errorf("status: %w: no status", custody.ErrMalformed)
	}
	e, err := s.st.Get(m.RequestID)
	if errors.Is(err, store.ErrNotFound) {
		s.park(m.RequestID, string(from), m)
		return nil
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.peers[m.RequestID] == nil {
		s.peers[m.RequestID] = map[custody.Party]PeerStatus{}
	}
	ps := *m.Status
	ps.wait = peerWait{at: ps.At}
	if d := ps.Decision; d != nil && d.Verdict == custody.VerdictRefuse {
		ps.wait.retryAt = d.RetryAt
	}
	if prev, ok := s.peers[m.RequestID][from]; ok && prev.wait.at.After(ps.At) {
		ps.wait = prev.wait // an older report, delivered late
	}
	s.peers[m.RequestID][from] = ps
	s.notifyLocked()
	s.mu.Unlock()
	s.emit(Event{Type: EventPeerStatus, RequestID: m.RequestID, Party: from, Status: m.Status.Status, Detail: m.Status.Reason})
	if m.Result != nil {
		if err := s.acceptResult(e.Request, *m.Result); err != nil {
			return err
		}
	}
	s.step(m.RequestID)
	return nil
}

// onQuery answers a peer's question about a request with this node's
// status, evaluated afresh, and the endorsements it holds that the status the peer sent with
// its question does not list (all of them if it sent none).
func (s *Service) onQuery(from string, m message) {
	e, err := s.st.Get(m.RequestID)
	if err != nil {
		return
	}
	s.step(m.RequestID) // the answer is this node's view now, not at its last tick
	signed, err := s.st.SignedApprovals(m.RequestID)
	if err != nil {
		s.log.Warn("reading signed approvals", "request", short(m.RequestID), "err", err)
	}
	s.mu.Lock()
	msg := s.statusMessageLocked(m.RequestID)
	s.mu.Unlock()
	has := func(p custody.Party, st custody.Stance) bool {
		return m.Status != nil && slices.Contains(m.Status.Holds, string(p)+":"+string(st))
	}
	for _, en := range s.endorsements(e, signed, has) {
		s.send(from, en)
	}
	if msg != nil {
		s.send(from, *msg)
	}
}

// step reads a request's state and what this node observes, calls
// custody.Step (the only place a request moves forward on its own) and
// executes its Output.
func (s *Service) step(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.stepLocked(id)
}

func (s *Service) stepLocked(id string) {
	defer s.publishLocked(id)
	now := s.clock.Now()
	state, in, ok := s.currentLocked(id, now)
	if !ok {
		return
	}
	s.executeLocked(id, state, custody.Step(s.pol, state, in, now))
}

// outcomeLocked hands an outcome (an attempt's, a peer's signature, the
// broadcast's, the chain look-up's) to custody.Step and executes what it
// asks.
func (s *Service) outcomeLocked(id string, o custody.Outcome) {
	e, err := s.st.Get(id)
	if err != nil {
		s.log.Error("reading request", "request", short(id), "err", err)
		return
	}
	state := custody.StepState{Request: e.Request, State: custody.State{Progress: e.Progress}}
	in := custody.StepInput{PeerFinalizes: s.o.Tracker == nil, Finalizes: s.o.Finalizer != nil, Outcome: &o}
	s.executeLocked(id, state, custody.Step(s.pol, state, in, s.clock.Now()))
}

// currentLocked reads what a step needs as of now: the request, this
// node's state of it (an unfreeze's notice time witnessed up to now, the
// account's exposure), the decision it last recorded, and what it observes
// of its peers, their reachability and its own signing sessions.
func (s *Service) currentLocked(id string, now time.Time) (custody.StepState, custody.StepInput, bool) {
	if e, err := s.st.Get(id); err == nil && e.Request.Kind == custody.KindUnfreeze && !e.Progress.Record.Status.Terminal() {
		// The notice period counts time witnessed up to now, not up to
		// the last tick: what this node decides and tells its peers
		// between ticks is not stale.
		s.witness()
	}
	req, st, err := s.st.State(id, now)
	if err != nil {
		s.log.Error("reading request", "request", short(id), "err", err)
		return custody.StepState{}, custody.StepInput{}, false
	}
	st.Exposure, st.Credit = s.exposure(req.Account), s.credit(req, now)
	state := custody.StepState{Request: req, State: st}
	if d, ok := s.decisions[id]; ok {
		state.LastDecision = &d
	}
	in := custody.StepInput{
		Peers:         map[custody.Party]custody.PeerReport{},
		Reachable:     map[custody.Party]bool{},
		PeerFinalizes: s.o.Tracker == nil,
		Finalizes:     s.o.Finalizer != nil,
		JoinedOver:    st.Record.Status == custody.StatusSigning && s.joinedOverLocked(id),
		Batches:       s.batching(req),
	}
	for p, ps := range s.peers[id] {
		in.Peers[p] = custody.PeerReport{Status: ps.Status, Reason: ps.Reason, Waiting: !ps.wait.retryAt.IsZero()}
	}
	if n, _ := s.network(); n != nil {
		for _, p := range custody.Parties {
			in.Reachable[p] = p != s.party && n.Connected(string(p))
		}
	}
	return state, in, true
}

// executeLocked does what a step asked, in order, and stops at the first
// persist that fails.
func (s *Service) executeLocked(id string, state custody.StepState, out custody.Output) {
	req := state.Request
	for _, e := range out.Effects {
		switch e.Kind {
		case custody.EffectPersist:
			if !s.persistLocked(id, e) {
				return
			}
		case custody.EffectSend:
			s.broadcast(message{Type: msgEndorse, RequestID: id, Request: req.Canonical(), Auto: true})
		case custody.EffectEmit:
			s.noteDecisionLocked(id, *e.Decision)
		case custody.EffectSign:
			if e.Batch { // batch_flow.go
				s.queueLocked(id, req, e.Partner)
			} else if s.plannedHereLocked(id, req) {
				s.beginLocked(id, req, e.Partner)
			}
		case custody.EffectNote:
			s.noteLocked(id, e)
		case custody.EffectFinalize:
			s.finalizeLocked(id, req)
		case custody.EffectTrack:
			s.trackLocked(id)
		case custody.EffectPublish:
			s.broadcastStatusLocked(id)
		}
	}
}

// noteLocked records a failure (audit and event) or emits a signature.
func (s *Service) noteLocked(id string, e custody.Effect) {
	if e.Note == custody.NoteSigned {
		s.emit(Event{Type: EventSigned, RequestID: id, Party: e.By, Detail: e.Detail})
		return
	}
	s.auditHere(KindFailure, id, []byte(e.Reason))
	s.emit(Event{Type: EventFailure, RequestID: id, Party: s.party, Detail: e.Detail})
}

// persistLocked stores one state change a step asked for and reports
// whether it was stored.
func (s *Service) persistLocked(id string, e custody.Effect) bool {
	if !e.AutoApproval {
		return s.applyLocked(id, e.Event, e.Reason)
	}
	if _, err := s.st.AddAutoApproval(id, s.party, s.clock.Now()); err != nil {
		s.log.Error("recording automatic approval", "request", short(id), "err", err)
		return false
	}
	s.emit(Event{Type: EventApproval, RequestID: id, Party: s.party, Detail: "auto"})
	return true
}

// applyLocked runs one state-machine event and reports whether it applied.
func (s *Service) applyLocked(id string, t custody.EventType, reason string) bool {
	return s.applyErrLocked(id, t, reason) == nil
}

func (s *Service) applyErrLocked(id string, t custody.EventType, reason string) error {
	ev := custody.Event{Type: t, At: s.clock.Now(), Reason: reason}
	limit := s.pol.SettlementsPerDay
	if t == custody.EvBegin {
		ev.MaxAttempts = s.pol.MaxSigningAttempts
		if e, err := s.st.Get(id); err == nil {
			// A batch member's begin is not counted: its batch is (batch_flow.go).
			ev.Uncapped = !s.pol.CountsTowardCap(e.Request) || s.batching(e.Request)
			ev.Cap, limit = s.pol.CapOf(e.Request)
		}
	}
	e, err := s.st.Apply(id, ev, limit)
	if err != nil {
		s.log.Warn("state change refused", "request", short(id), "event", t, "err", err)
		return err
	}
	s.m.transitions.WithLabelValues(string(e.Progress.Record.Status)).Inc()
	if e.Progress.Record.Status.Terminal() {
		s.leaveLineLocked(id)
		delete(s.waiting, id)
	}
	if e.Progress.Record.Status == custody.StatusDone {
		s.trackLocked(id)
	}
	s.notifyLocked()
	s.emit(Event{Type: EventStatus, RequestID: id, Party: s.party, Status: e.Progress.Record.Status, Detail: e.Progress.Record.Reason})
	s.log.Info("request "+string(e.Progress.Record.Status), "request", short(id), "reason", reason)
	return nil
}

func (s *Service) noteDecisionLocked(id string, d custody.Decision) {
	if prev, ok := s.decisions[id]; ok && prev.String() == d.String() {
		return
	}
	s.decisions[id] = d
	s.m.decisions.WithLabelValues(string(d.Verdict)).Inc()
	s.auditHere(KindDecision, id, []byte(id+"|"+d.String()))
	s.emit(Event{Type: EventDecision, RequestID: id, Party: s.party, Detail: d.String(), Decision: &d})
}

// publishLocked tells peers when this node's status or decision changed.
func (s *Service) publishLocked(id string) {
	msg := s.statusMessageLocked(id)
	if msg == nil {
		return
	}
	key := fmt.Sprintf("%s|%s|%v|%v", msg.Status.Status, msg.Status.Reason, msg.Result != nil, msg.Status.Holds)
	if msg.Status.Decision != nil {
		key += "|" + msg.Status.Decision.String()
	}
	if s.published[id] == key {
		return
	}
	s.published[id] = key
	s.broadcast(*msg)
}

func (s *Service) statusMessageLocked(id string) *message {
	e, err := s.st.Get(id)
	if err != nil {
		return nil
	}
	ps := &PeerStatus{Status: e.Progress.Record.Status, Reason: e.Progress.Record.Reason, At: s.clock.Now(),
		Observer: !custody.QuorumFor(e.Request.Kind).Includes(s.party), Holds: holds(e.Progress)}
	if d, ok := s.decisions[id]; ok {
		ps.Decision = &d
	}
	m := &message{Type: msgStatus, RequestID: id, Status: ps}
	if res, ok := s.resultLocked(id); ok && res.Complete {
		m.Result = &res
	}
	return m
}

func (s *Service) exposure(account string) map[string]uint64 {
	if s.o.Exposure == nil || account == "" {
		return nil
	}
	if x, ok := s.o.Exposure(account); ok {
		return map[string]uint64{account: x}
	}
	return nil
}

// credit is a liquidation's account's credit figure for
// custody.State.Credit: nil for other kinds, and when this node has no
// credit source.
func (s *Service) credit(req custody.Request, now time.Time) map[string]custody.CreditFacts {
	if s.o.Credit == nil || req.Kind != custody.KindLiquidation || req.Account == "" {
		return nil
	}
	return map[string]custody.CreditFacts{req.Account: s.o.Credit(req.Account, now)}
}

// transient: custody.Decision.Transient.
func transient(d custody.Decision) bool { return d.Transient() }

func reasons(d custody.Decision) string { return d.Summary() }

// clip shortens caller-supplied text (a string or a string type such as
// custody.Party) before it goes into an error.
func clip[S ~string](s S) string {
	if len(s) > 64 {
		return string(s[:64]) + "…"
	}
	return string(s)
}
