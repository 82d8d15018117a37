package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/custody/store"
	"github.com/triad-custody/triad/node"
)

// beginLocked starts a signing attempt this node coordinates: the attempt
// is counted (and the day's settlement) before any session exists, so a
// crash leaves a record that recover() aborts.
func (s *Service) beginLocked(id string, req custody.Request, partner custody.Party) {
	n, _ := s.network()
	if s.inflight[id] != "" || n == nil {
		return
	}
	// A storm of approved requests signs a few at a time: every attempt
	// at once would share the CPU until all of them missed their deadline.
	if len(s.inflight) >= s.o.MaxAttempts {
		s.lineUpLocked(id)
		return
	}
	s.leaveLineLocked(id)
	if err := s.applyErrLocked(id, custody.EvBegin, "signing with "+string(partner)); err != nil {
		switch {
		case errors.Is(err, custody.ErrTooManyAttempts):
			s.outcomeLocked(id, custody.Outcome{Kind: custody.OutcomeSpent})
		case errors.Is(err, store.ErrDailyCap):
			s.outcomeLocked(id, custody.Outcome{Kind: custody.OutcomeCapped})
		}
		return
	}
	nonce := newNonce()
	s.inflight[id] = nonce
	if !s.spawn(func() { s.coordinate(n, id, req, partner, nonce) }) {
		delete(s.inflight, id) // closing: recover() aborts the attempt on restart
	}
}

// coordinate runs one attempt: node.Sign per digest (the node fails over
// to the other pair once), then hands the outcome to custody.Step.
func (s *Service) coordinate(n Network, id string, req custody.Request, partner custody.Party, nonce string) {
	ctx, cancel := context.WithTimeout(s.ctx, 3*s.o.SignTimeout)
	defer cancel()
	res, err := s.signPlanned(ctx, n, id, req, partner, nonce)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, id)
	s.nextInLineLocked()
	if s.closed {
		return // the record stays "signing"; recover() settles it on restart
	}
	if err != nil {
		s.m.signFailures.Inc()
		s.outcomeLocked(id, custody.Outcome{Kind: custody.OutcomeFailed, Err: err.Error()})
		return
	}
	s.m.signatures.Inc()
	s.outcomeLocked(id, custody.Outcome{Kind: custody.OutcomeSigned, Signers: res.Signers})
}

// signPlanned fixes the request's plan (coins chosen, checked, reserved
// and locked here) and signs it.
func (s *Service) signPlanned(ctx context.Context, n Network, id string, req custody.Request, partner custody.Party, nonce string) (Result, error) {
	planned, err := s.planFor(ctx, id, req)
	if err != nil {
		return Result{}, fmt.Errorf("planning the transaction: %w", err)
	}
	return s.signDigests(ctx, n, id, planned, partner, nonce)
}

func (s *Service) signDigests(ctx context.Context, n Network, id string, req custody.Request, partner custody.Party, nonce string) (Result, error) {
	digests, err := s.o.Digester(req)
	if err != nil {
		return Result{}, fmt.Errorf("computing digests: %w", err)
	}
	s.mu.Lock()
	res, _ := s.resultLocked(id) // signatures of an earlier attempt are kept
	s.mu.Unlock()
	if !res.samePlan(req) || s.verifyResult(ctx, req, res) != nil {
		res = Result{}
	}
	res.Coordinator, res.Inputs, res.EVM = s.party, req.Inputs, req.EVM
	for i := len(res.Signatures); i < len(digests); i++ {
		out, err := n.Sign(ctx, node.SignRequest{KeyID: req.KeyID, RequestID: custody.SessionName{Request: id, Input: i, Attempt: nonce}.String(),
			Digest: digests[i], ChildPath: req.ChildPath, Payload: req.Canonical(), Partner: string(partner)})
		if err != nil {
			return res, fmt.Errorf("signing digest %d of %d: %w", i+1, len(digests), err)
		}
		next := res
		next.Signers = parties(out.Signers)
		next.Signatures = append(slices.Clone(res.Signatures), sigFrom(out.Signature))
		next.Complete = len(next.Signatures) == len(digests)
		if err := s.verifyResult(ctx, req, next); err != nil {
			return res, err
		}
		res = next
		if err := s.putResult(id, res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// putResult persists a result; a complete one gets its audit record.
func (s *Service) putResult(id string, res Result) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	var rec audit.Entry
	if res.Complete {
		rec = audit.Entry{Time: s.clock.Now(), Kind: KindSignature, RequestID: id, Party: string(res.Coordinator), Payload: res.digest()}
	}
	return s.st.PutResult(id, b, rec)
}

func (s *Service) resultLocked(id string) (Result, bool) {
	b, ok, err := s.st.Result(id)
	if err != nil || !ok {
		return Result{}, false
	}
	return s.results.decode(id, b)
}

// resultCache keeps the last decoding of each stored result, checked
// against the stored bytes: a batch member's result carries the batch
// document and every input's signature, and a storm decoded each again
// for every status message, view and plan lookup of every member (a
// third of the nodes' JSON decoding).
type resultCache struct {
	mu sync.Mutex
	m  map[string]cachedResult
}

type cachedResult struct {
	raw []byte
	r   Result
}

// maxCachedResults bounds the cache; past it, it starts again.
const maxCachedResults = 1024

// decode is result b of request id, decoded (or as last decoded, when
// b is the same). Its slices are the caller's own.
func (c *resultCache) decode(id string, b []byte) (Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok && bytes.Equal(e.raw, b) {
		return e.r.clone(), true
	}
	r, err := DecodeResult(b)
	if err != nil {
		return Result{}, false
	}
	if c.m == nil || len(c.m) >= maxCachedResults {
		c.m = map[string]cachedResult{}
	}
	c.m[id] = cachedResult{raw: b, r: r.clone()}
	return r, true
}

// finishLocked ends a request signed here as coordinator's (a batch
// member's, batch_run.go): custody.Step says what follows (done, finalize
// or track).
func (s *Service) finishLocked(id string, coordinator custody.Party) {
	s.outcomeLocked(id, custody.Outcome{Kind: custody.OutcomeFinish, Coordinator: coordinator})
}

// finalizeLocked runs the finalizer (the broadcast) on request id's signed
// plan in the background, and hands its outcome to custody.Step.
func (s *Service) finalizeLocked(id string, req custody.Request) {
	res, _ := s.resultLocked(id)
	req = res.planned(req)
	s.spawn(func() {
		err := s.o.Finalizer(s.ctx, req, res)
		s.mu.Lock()
		defer s.mu.Unlock()
		out := custody.Outcome{Kind: custody.OutcomeFinalized}
		if err != nil {
			out.Err = err.Error()
		}
		s.outcomeLocked(id, out)
	})
}

func (s *Service) broadcastStatusLocked(id string) {
	delete(s.published, id)
	s.publishLocked(id)
}

// acceptResult records a signature a peer reports, once this node has
// verified it against its own digests and key.
func (s *Service) acceptResult(req custody.Request, res Result) error {
	id := req.ID()
	if !res.Complete {
		return nil
	}
	s.mu.Lock()
	have, ok := s.resultLocked(id)
	s.mu.Unlock()
	if ok && have.Complete {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if err := s.verifyResult(ctx, req, res); err != nil {
		s.auditHere(KindFailure, id, []byte("peer result: "+err.Error()))
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.putResult(id, res); err != nil {
		return err
	}
	// The signed plan's coins are spent here too: no other request of
	// this node may plan them.
	if err := s.reservePlanLocked(id, res.planned(req)); err != nil {
		s.log.Warn("reserving the coins of a signed plan", "request", short(id), "err", err)
	}
	if _, err := s.st.Get(id); err != nil {
		return err
	}
	s.outcomeLocked(id, custody.Outcome{Kind: custody.OutcomePeerSigned, Coordinator: res.Coordinator, Signers: res.Signers})
	return nil
}

// parties are party names as the node reports them (a signature's
// signers, a proposal's participants) as custody.Party.
func parties(names []string) []custody.Party {
	out := make([]custody.Party, len(names))
	for i, n := range names {
		out[i] = custody.Party(n)
	}
	return out
}

// AuthorizeSign is this node's own decision to join a signing session
// (node.Authorizer): it gathers what the decision rests on (gatherJoinLocked)
// and asks custody.DecideJoin, then acts on the answer (actJoinLocked). A
// session without payload is the raw-digest path: canary keys only.
// Otherwise the payload is the canonical request; the node re-evaluates it
// with its own policy, state and clock, recomputes the digest, checks the
// participants are an approved quorum in its own view, and joins at most
// one live session per request and digest. It waits briefly
// (AuthorizeWait) for facts still in flight.
func (s *Service) AuthorizeSign(ctx context.Context, keyID string, p *node.Proposal) error {
	if len(p.Payload) == 0 {
		err := s.tryAuthorize(keyID, p)
		s.m.authorizations.WithLabelValues(authResult(err)).Inc()
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, s.o.AuthorizeWait)
	defer cancel()
	for {
		ch := s.changedCh()
		err := s.tryAuthorize(keyID, p)
		if err == nil || !errors.Is(err, ErrNotReady) {
			s.m.authorizations.WithLabelValues(authResult(err)).Inc()
			if err != nil {
				s.auditHere(KindSession, requestOf(p.RequestID), []byte("refuse|"+p.SessionID.String()+"|"+err.Error()))
			}
			return err
		}
		select {
		case <-ch:
		case <-wctx.Done():
			s.m.authorizations.WithLabelValues("not_ready").Inc()
			return err
		}
	}
}

func authResult(err error) string {
	if err == nil {
		return "joined"
	}
	return "refused"
}

func requestOf(rid string) string {
	id, _, _ := strings.Cut(rid, "/")
	if len(id) > 64 {
		return ""
	}
	return id
}

// tryAuthorize is one pass of the decision: gather, decide, act.
func (s *Service) tryAuthorize(keyID string, p *node.Proposal) error {
	if isBatchPayload(p.Payload) {
		return s.tryAuthorizeBatch(keyID, p) // batch_flow.go
	}
	prop := signProposal(keyID, p)
	if prop.Raw {
		return joinErr(custody.DecideJoin(s.pol, prop, custody.JoinFacts{}))
	}
	var f custody.JoinFacts
	if prop.PayloadErr == nil {
		f.Digests, f.DigestErr = s.o.Digester(prop.Request)
	}
	// A proposal that fails on its own costs this node no chain look-up.
	if d := custody.CheckSignProposal(s.party, prop, f.Digests, f.DigestErr); d.Verdict != "" {
		return joinErr(d)
	}
	// The plan's coins are facts this node looks up on its own Bitcoin
	// node, before it locks anything.
	name, _ := custody.ParseSessionName(prop.Session)
	cctx, cancel := context.WithTimeout(s.ctx, s.o.AuthorizeWait)
	f.PlanErr = s.checkPlan(cctx, prop.Request, name.Attempt)
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gatherJoinLocked(prop, &f)
	d := custody.DecideJoin(s.pol, prop, f)
	if d.Verdict != custody.JoinYes || d.Own {
		return joinErr(d)
	}
	return s.actJoinLocked(d, prop, p.SessionID.String())
}

// signProposal is a node proposal in custody's terms, its payload decoded.
func signProposal(keyID string, p *node.Proposal) custody.SignProposal {
	prop := custody.SignProposal{KeyID: keyID, Session: p.RequestID, Digest: p.Digest, ChildPath: p.ChildPath,
		Raw: len(p.Payload) == 0}
	for _, q := range p.Participants {
		prop.Participants = append(prop.Participants, custody.Party(q))
	}
	if !prop.Raw {
		prop.Request, prop.PayloadErr = custody.DecodeCanonicalRequest(p.Payload)
	}
	return prop
}

// gatherJoinLocked reads this node's own view of the proposed request:
// whether it is stored, the attempt it coordinates itself (stepping the
// request first, which may begin one), its state at now, and the session
// it joined for the same digest.
func (s *Service) gatherJoinLocked(prop custody.SignProposal, f *custody.JoinFacts) {
	id := prop.Request.ID()
	e, err := s.st.Get(id)
	if errors.Is(err, store.ErrNotFound) {
		return
	} else if err != nil {
		f.StoreErr = err
		return
	}
	f.Stored = true
	// Time witnessed since this node's last tick counts now: a partner
	// whose tick has not yet run must not see a notice period as unserved
	// that its own clock has served.
	if prop.Request.Kind == custody.KindUnfreeze {
		s.witness()
	}
	f.OwnAttempt = s.inflight[id]
	if st := e.Progress.Record.Status; f.OwnAttempt == "" && (st == custody.StatusProposed || st == custody.StatusApproved) {
		s.stepLocked(id)
		f.OwnAttempt = s.inflight[id]
	}
	f.Now = s.clock.Now()
	_, f.State, f.StateErr = s.st.State(id, f.Now)
	f.State.Exposure, f.State.Credit = s.exposure(prop.Request.Account), s.credit(prop.Request, f.Now)
	name, _ := custody.ParseSessionName(prop.Session)
	if ls, ok := s.sessions[sessionKey(name)]; ok && s.live(ls) {
		f.LiveWith = custody.Party(ls.coordinator)
	}
}

// actJoinLocked carries out a decision to join another node's attempt:
// the plan's coins locked to the request, the request moved to signing,
// the session remembered as live.
func (s *Service) actJoinLocked(d custody.JoinDecision, prop custody.SignProposal, sid string) error {
	id := prop.Request.ID()
	if d.Reserve {
		if err := s.reservePlanLocked(id, prop.Request); err != nil {
			return fmt.Errorf("%w: plan: %w", ErrRefused, err)
		}
	}
	for _, step := range d.Steps {
		if err := s.applyErrLocked(id, step.Event, step.Reason); err != nil && !step.BestEffort {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	s.sessions[sessionKey(d.Session)] = s.joinedLocked(string(d.Partner))
	s.auditHere(KindSession, id, []byte("join|"+sid))
	return nil
}

// sessionKey is the key of a joined session in s.sessions: "<request>/<input>".
func sessionKey(n custody.SessionName) string { return n.Request + "/" + strconv.Itoa(n.Input) }

// joinErr is a decision not to join (or to join this node's own attempt:
// nil) as the error node.Authorizer returns: ErrNotReady while a fact is
// in flight, ErrRefused otherwise.
func joinErr(d custody.JoinDecision) error {
	switch {
	case d.Verdict == custody.JoinYes:
		return nil
	case d.Reason == "":
		return d.Cause // the raw-digest path's own error
	case d.Verdict == custody.JoinWait:
		return fmt.Errorf("%w: %s", ErrNotReady, d.Reason)
	case d.Cause != nil:
		return fmt.Errorf("%w: %s: %w", ErrRefused, d.Reason, d.Cause)
	}
	return fmt.Errorf("%w: %s", ErrRefused, d.Reason)
}
