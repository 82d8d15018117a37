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
			s.applyLocked(id, custody.EvFail, "signing attempts spent")
		case errors.Is(err, store.ErrDailyCap):
			s.applyLocked(id, custody.EvReject, "daily settlement cap reached")
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
// to the other pair once), then records the outcome.
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
		s.appendAudit(KindFailure, id, string(s.party), []byte(err.Error()))
		s.emit(Event{Type: EventFailure, RequestID: id, Party: s.party, Detail: clip(err.Error())})
		s.applyLocked(id, custody.EvAbort, clip(err.Error()))
		if e, gerr := s.st.Get(id); gerr == nil && e.Progress.Record.Attempts >= s.pol.MaxSigningAttempts {
			s.applyLocked(id, custody.EvFail, "signing attempts spent: "+clip(err.Error()))
		}
		s.broadcastStatusLocked(id)
		return
	}
	s.m.signatures.Inc()
	s.applyLocked(id, custody.EvSigned, "signed by "+strings.Join(res.Signers, "+"))
	s.emit(Event{Type: EventSigned, RequestID: id, Party: s.party, Detail: strings.Join(res.Signers, "+")})
	s.finishLocked(id, req, res)
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
	if !slices.Equal(res.Inputs, req.Inputs) || s.verifyResult(ctx, req, res) != nil {
		res = Result{}
	}
	res.Coordinator, res.Inputs = string(s.party), req.Inputs
	for i := len(res.Signatures); i < len(digests); i++ {
		out, err := n.Sign(ctx, node.SignRequest{KeyID: req.KeyID, RequestID: fmt.Sprintf("%s/%d/%s", id, i, nonce),
			Digest: digests[i], ChildPath: req.ChildPath, Payload: req.Canonical(), Partner: string(partner)})
		if err != nil {
			return res, fmt.Errorf("signing digest %d of %d: %w", i+1, len(digests), err)
		}
		next := res
		next.Signers = out.Signers
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
		rec = audit.Entry{Time: s.clock.Now(), Kind: KindSignature, RequestID: id, Party: res.Coordinator, Payload: res.digest()}
	}
	return s.st.PutResult(id, b, rec)
}

func (s *Service) resultLocked(id string) (Result, bool) {
	b, ok, err := s.st.Result(id)
	if err != nil || !ok {
		return Result{}, false
	}
	var r Result
	if json.Unmarshal(b, &r) != nil {
		return Result{}, false
	}
	return r, true
}

// finishLocked ends a signed request: done at once without a finalizer;
// with one, the coordinator runs it (broadcast); then every node with a
// Bitcoin node (Tracker) marks it done when its own node shows the
// transaction in a block, and a node without one follows the
// coordinator's status.
func (s *Service) finishLocked(id string, req custody.Request, res Result) {
	if s.o.Finalizer == nil {
		s.applyLocked(id, custody.EvDone, "signature is the product")
		s.broadcastStatusLocked(id)
		return
	}
	if res.Coordinator != string(s.party) {
		s.trackLocked(id) // done once this node's Bitcoin node shows it paid
		return
	}
	req = req.WithInputs(res.Inputs)
	s.spawn(func() {
		err := s.o.Finalizer(s.ctx, req, res)
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			s.appendAudit(KindFailure, id, string(s.party), []byte("finalize: "+err.Error()))
			s.emit(Event{Type: EventFailure, RequestID: id, Party: s.party, Detail: "finalize: " + clip(err.Error())})
			return
		}
		if s.o.Tracker != nil {
			// Broadcast, not yet paid: done when a block of this node's
			// Bitcoin node holds the transaction (track.go). Peers get
			// the signature now.
			s.trackLocked(id)
			s.broadcastStatusLocked(id)
			return
		}
		s.applyLocked(id, custody.EvDone, "finalized")
		s.broadcastStatusLocked(id)
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
		s.appendAudit(KindFailure, id, string(s.party), []byte("peer result: "+err.Error()))
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.putResult(id, res); err != nil {
		return err
	}
	// The signed plan's coins are spent here too: no other request of
	// this node may plan them.
	if err := s.reservePlanLocked(id, req.WithInputs(res.Inputs)); err != nil {
		s.log.Warn("reserving the coins of a signed plan", "request", short(id), "err", err)
	}
	e, err := s.st.Get(id)
	if err != nil {
		return err
	}
	switch e.Progress.Record.Status {
	case custody.StatusSigning:
		s.applyLocked(id, custody.EvSigned, "signed by "+strings.Join(res.Signers, "+"))
	case custody.StatusProposed, custody.StatusApproved:
		s.applyLocked(id, custody.EvObserve, "signed by "+strings.Join(res.Signers, "+"))
	default:
		return nil
	}
	s.emit(Event{Type: EventSigned, RequestID: id, Party: custody.Party(res.Coordinator), Detail: strings.Join(res.Signers, "+")})
	switch {
	case s.o.Finalizer == nil:
		s.applyLocked(id, custody.EvDone, "signature is the product")
	case s.o.Tracker != nil:
		s.trackLocked(id) // done once this node's Bitcoin node shows it paid
	}
	return nil
}

// AuthorizeSign is this node's own decision to join a signing session
// (node.Authorizer). A session without payload is the raw-digest path:
// canary keys only. Otherwise the payload is the canonical request; the
// node re-evaluates it with its own policy, state and clock, recomputes
// the digest, checks the participants are an approved quorum in its own
// view, and joins at most one live session per request and digest. It
// waits briefly (AuthorizeWait) for facts still in flight.
func (s *Service) AuthorizeSign(ctx context.Context, keyID string, p *node.Proposal) error {
	if len(p.Payload) == 0 {
		err := custody.CheckRawDrill(s.pol, keyID, p.RequestID, p.Digest)
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
				s.appendAudit(KindSession, requestOf(p.RequestID), string(s.party), []byte("refuse|"+p.SessionID.String()+"|"+err.Error()))
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

func (s *Service) tryAuthorize(keyID string, p *node.Proposal) error {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, a...))
	}
	if isBatchPayload(p.Payload) {
		return s.tryAuthorizeBatch(keyID, p) // batch_flow.go
	}
	req, err := custody.DecodeCanonicalRequest(p.Payload)
	if err != nil {
		return refuse("payload: %v", err)
	}
	id := req.ID()
	parts := strings.Split(p.RequestID, "/")
	if len(parts) != 3 || parts[0] != id {
		return refuse("session request ID does not name the payload's request")
	}
	idx, err := strconv.Atoi(parts[1])
	nonce := parts[2]
	digests, derr := s.o.Digester(req)
	switch {
	case keyID != req.KeyID || p.ChildPath != req.ChildPath:
		return refuse("key or child path differs from the request's")
	case err != nil || derr != nil || idx < 0 || idx >= len(digests):
		return refuse("no digest %q for this request", parts[1])
	case !bytes.Equal(p.Digest, digests[idx][:]):
		return refuse("digest is not the one this node computes from the request")
	case len(p.Participants) != 2 || !slices.Contains(p.Participants, string(s.party)):
		return refuse("participants %v", p.Participants)
	}
	other := p.Participants[0]
	if other == string(s.party) {
		other = p.Participants[1]
	}
	// The plan's coins are facts this node looks up on its own Bitcoin
	// node, before it locks anything.
	cctx, cancel := context.WithTimeout(s.ctx, s.o.AuthorizeWait)
	err = s.checkPlan(cctx, req, nonce)
	cancel()
	if err != nil {
		return refuse("plan: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.st.Get(id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: request %.12s not stored here yet", ErrNotReady, id)
	} else if err != nil {
		return refuse("%v", err)
	}
	// Time witnessed since this node's last tick counts now: a partner
	// whose tick has not yet run must not see a notice period as unserved
	// that its own clock has served.
	if req.Kind == custody.KindUnfreeze {
		s.witness()
	}
	own := s.inflight[id]
	if own != "" && own != nonce {
		return refuse("this node is coordinating its own attempt for %.12s", id)
	}
	if st := e.Progress.Record.Status; own == "" && (st == custody.StatusProposed || st == custody.StatusApproved) {
		s.stepLocked(id)
		if s.inflight[id] != "" {
			return refuse("this node is coordinating its own attempt for %.12s", id)
		}
	}
	now := s.clock.Now()
	req, st, err := s.st.State(id, now)
	if err != nil {
		return refuse("%v", err)
	}
	st.Exposure = s.exposure(req.Account)
	d := custody.Evaluate(s.pol, st, req, now)
	switch d.Verdict {
	case custody.VerdictRefuse:
		if transient(d) && own != nonce {
			// Not yet by this node's clock, or a fact still in flight:
			// wait (AuthorizeWait) rather than decline at once.
			return fmt.Errorf("%w: policy: %s", ErrNotReady, reasons(d))
		}
		return refuse("policy: %s", reasons(d))
	case custody.VerdictNeedOperator:
		return fmt.Errorf("%w: %s", ErrNotReady, reasons(d))
	}
	operatorOnly := req.Kind == custody.KindUnfreeze || req.Kind == custody.KindCanary
	signers := custody.QuorumFor(req.Kind).Signers(func(q custody.Party) bool {
		if !slices.Contains(p.Participants, string(q)) {
			return false
		}
		a, ok := st.Approvals[q]
		return q == s.party || ok && (!operatorOnly || !a.Auto)
	})
	if len(signers) != len(p.Participants) {
		if own == nonce { // this node's own attempt: its view is the one that counts
			return refuse("participants %v are not an approved quorum here", p.Participants)
		}
		return fmt.Errorf("%w: participants %v are not an approved quorum here yet", ErrNotReady, p.Participants)
	}
	if own == nonce {
		return nil // this node's own attempt: checked, nothing to record
	}
	key := id + "/" + parts[1]
	if ls, ok := s.sessions[key]; ok && time.Now().Before(ls.until) && ls.coordinator != other {
		return refuse("a session with %s for this request is live", ls.coordinator)
	}
	if err := s.reservePlanLocked(id, req); err != nil {
		return refuse("plan: %v", err)
	}
	switch st.Record.Status {
	case custody.StatusProposed: // approves, but its default pair was another one (failover)
		if err := s.applyErrLocked(id, custody.EvApprove, "quorum "+strings.Join(p.Participants, "+")); err != nil {
			return refuse("%v", err)
		}
		fallthrough
	case custody.StatusApproved:
		if err := s.applyErrLocked(id, custody.EvBegin, "joining "+other+"'s attempt"); err != nil {
			return refuse("%v", err)
		}
	case custody.StatusSigning:
		if idx == 0 { // a new attempt: the previous one is over
			s.applyLocked(id, custody.EvAbort, "coordinator began a new attempt")
			if err := s.applyErrLocked(id, custody.EvBegin, "joining "+other+"'s attempt"); err != nil {
				return refuse("%v", err)
			}
		}
	default:
		return fmt.Errorf("%w: request is %s here", ErrNotReady, st.Record.Status)
	}
	s.sessions[key] = liveSession{coordinator: other, until: time.Now().Add(s.o.SignTimeout)}
	s.appendAudit(KindSession, id, string(s.party), []byte("join|"+p.SessionID.String()))
	return nil
}
