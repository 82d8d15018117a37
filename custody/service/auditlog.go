package service

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
)

// Audit record kinds the service adds to the store's (request, approval,
// veto, status). Decisions, sessions and failures are this node's own;
// signatures are shared facts and reconciled.
const (
	KindDecision   = "decision"   // payload: digest of (request, decision)
	KindSignature  = "signature"  // payload: digest of the verified signatures; party: the coordinator
	KindFailure    = "failure"    // payload: digest of the error
	KindSession    = "session"    // payload: digest of join|refuse, session ID (and reason)
	KindDivergence = "divergence" // payload: digest of the divergence report
	KindReconcile  = "reconcile"  // payload: digest of the reconciliation report
)

// ReconcileKinds are the facts every node should have recorded alike.
var ReconcileKinds = append(append([]string(nil), audit.SharedKinds...), KindSignature)

// auditHere appends a record this node makes as itself (its own party).
func (s *Service) auditHere(kind, id string, payload []byte) {
	s.appendAudit(kind, id, string(s.party), payload)
}

// appendAudit appends a record about party: a peer's name as the network
// reports it, or this node's own (auditHere). A failure is logged.
func (s *Service) appendAudit(kind, id, party string, payload []byte) {
	_, err := s.st.Audit().Append(audit.Entry{Time: s.clock.Now(), Kind: kind, RequestID: id, Party: party, Payload: audit.Digest(payload)})
	if err != nil {
		s.log.Error("appending audit record", "kind", kind, "request", short(id), "err", err)
	}
}

// Tick is the node's periodic work: witness monotonic time on open
// requests, report a wall-clock jump, re-evaluate the open requests that
// are due or changed (notice periods end, unfreezes lapse, failed attempts
// retry: stepDue), offer peers what they missed of open requests when due
// (offer), send audit heads
// to peers, follow done requests' transactions (Tracker) and, on the
// regulator's node, reconcile when due.
func (s *Service) Tick(ctx context.Context) {
	s.witness()
	s.mu.Lock()
	s.notifyLocked() // a partner waiting in AuthorizeSign looks again
	s.mu.Unlock()
	s.checkClock()
	if pending, err := s.st.Pending(); err == nil {
		reconnected := s.stepDue(pending) // due.go: only what is due or changed
		s.offer(pending, reconnected)
	}
	s.cutBatch()
	now := s.clock.Now()
	if _, err := s.st.PruneNonces(now.Add(-s.pol.ClockSkew)); err != nil {
		s.log.Warn("pruning nonces", "err", err)
	}
	s.sendHeads()
	s.trackSettlements()
	s.mu.Lock()
	for k, ls := range s.sessions {
		if !s.live(ls) {
			delete(s.sessions, k)
		}
	}
	due := s.party == custody.Regulator && !now.Before(s.nextRecon)
	if due {
		s.nextRecon = now.Add(s.reconcileEvery())
	}
	s.mu.Unlock()
	if due {
		s.spawn(func() {
			rctx, cancel := context.WithTimeout(s.ctx, time.Minute)
			defer cancel()
			s.Reconcile(rctx)
		})
	}
}

// witness adds the monotonic time since the last lap to every open
// request's witnessed time. Each lap is counted once, however often it
// runs.
func (s *Service) witness() {
	if err := s.st.Witness(s.watch.Lap()); err != nil {
		s.log.Error("witnessing time", "err", err)
	}
}

// ClockReport is this node's wall clock against its monotonic clock.
func (s *Service) ClockReport() custody.ClockReport { return s.monitor.Check() }

func (s *Service) checkClock() {
	r := s.monitor.Check()
	s.mu.Lock()
	first := r.Jumped && !s.jumped
	s.jumped = r.Jumped
	s.mu.Unlock()
	if !first {
		return
	}
	s.m.clockJumps.Inc()
	s.log.Error("wall clock jumped; timing rules keep using witnessed monotonic time", "drift", r.Drift.String())
	s.auditHere(audit.KindClock, "", []byte(r.String()))
	s.emit(Event{Type: EventClockJump, Party: s.party, Detail: r.String()})
}

func (s *Service) sendHeads() {
	head, err := s.st.Audit().Head()
	if err != nil {
		return
	}
	n, _ := s.network()
	if n == nil {
		return
	}
	s.mu.Lock()
	pinned := map[string]audit.Head{}
	for k, v := range s.pinned {
		pinned[k] = v
	}
	s.mu.Unlock()
	for _, p := range n.Peers() {
		m := message{Type: msgHead, Head: &head}
		if h, ok := pinned[p]; ok {
			m.Pinned = &h
		}
		s.send(p, m)
	}
}

// onHead checks our chain against the head of it a peer last saw, and the
// peer's new head against the one it sent before: a chain never shrinks
// or changes its past.
func (s *Service) onHead(from string, m message) {
	if m.Pinned != nil {
		d, err := s.st.Audit().CompareWith(*m.Pinned)
		if err == nil && (d.Relation == audit.Forked || d.Relation == audit.PeerAhead) {
			s.divergence(from, "our chain against the head "+from+" holds: "+d.String())
		}
	}
	if m.Head == nil {
		return
	}
	s.mu.Lock()
	old, ok := s.pinned[from]
	s.pinned[from] = *m.Head
	s.mu.Unlock()
	if ok && (m.Head.Seq < old.Seq || m.Head.Seq == old.Seq && m.Head.Hash != old.Hash) {
		s.divergence(from, fmt.Sprintf("%s's chain went from %d/%.12s to %d/%.12s", from, old.Seq, old.Hash, m.Head.Seq, m.Head.Hash))
	}
}

func (s *Service) divergence(peer, detail string) {
	s.m.divergences.Inc()
	s.log.Error("audit chain divergence", "peer", peer, "detail", detail)
	s.appendAudit(KindDivergence, "", peer, []byte(detail))
	s.emit(Event{Type: EventDivergence, Party: custody.Party(peer), Detail: detail})
}

// ReconcileResult is one reconciliation with one peer.
type ReconcileResult struct {
	Peer       string           `json:"peer"`
	At         time.Time        `json:"at"`
	Compared   int              `json:"compared"`
	Mismatches []audit.Mismatch `json:"mismatches,omitempty"`
	Local      string           `json:"local_chain_error,omitempty"`
	Remote     string           `json:"peer_chain_error,omitempty"`
	Error      string           `json:"error,omitempty"`
	OK         bool             `json:"ok"`
}

// Reconcile compares this node's shared facts (requests, approvals,
// vetoes, signatures) with each peer's audit chain, up to ReconcileMargin
// ago, and reports every mismatch (log, metric, audit record, event).
// The regulator runs it on its schedule; anyone may run it on demand.
func (s *Service) Reconcile(ctx context.Context) []ReconcileResult {
	now := s.clock.Now()
	until := now.Add(-s.o.ReconcileMargin)
	mine, err := s.st.Audit().Records(1, 0)
	n, _ := s.network()
	var out []ReconcileResult
	if n == nil {
		return nil
	}
	total := 0
	for _, p := range n.Peers() {
		r := ReconcileResult{Peer: p, At: now}
		theirs, ferr := s.fetchRecords(ctx, p)
		switch {
		case err != nil:
			r.Error = err.Error()
		case ferr != nil:
			r.Error = ferr.Error()
		default:
			rep := audit.Reconcile(mine, theirs, audit.ReconcileOptions{Kinds: ReconcileKinds, Until: until})
			r.Compared, r.Mismatches, r.OK = rep.Compared, rep.Mismatches, rep.OK()
			if rep.VerifyA != nil {
				r.Local = rep.VerifyA.Error()
			}
			if rep.VerifyB != nil {
				r.Remote = rep.VerifyB.Error()
			}
			s.checkPinned(p, theirs)
		}
		total += len(r.Mismatches)
		res := "ok"
		if !r.OK {
			res = "mismatch"
			s.log.Warn("reconciliation found mismatches", "peer", p, "mismatches", len(r.Mismatches), "err", r.Error)
		}
		s.m.reconciles.WithLabelValues(res).Inc()
		b, _ := json.Marshal(r)
		s.appendAudit(KindReconcile, "", p, b)
		out = append(out, r)
	}
	s.m.mismatches.Set(float64(total))
	s.mu.Lock()
	s.lastRecon = out
	s.mu.Unlock()
	for _, r := range out { // after lastRecon is set: a reader woken by the event sees it
		s.emit(Event{Type: EventReconcile, Party: custody.Party(r.Peer), Detail: fmt.Sprintf("ok=%v compared=%d mismatches=%d %s", r.OK, r.Compared, len(r.Mismatches), r.Error)})
	}
	return out
}

// LastReconcile returns the latest reconciliation's results.
func (s *Service) LastReconcile() []ReconcileResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ReconcileResult(nil), s.lastRecon...)
}

// checkPinned compares the head a peer sent earlier with its records now.
func (s *Service) checkPinned(peer string, recs []audit.Record) {
	s.mu.Lock()
	h, ok := s.pinned[peer]
	s.mu.Unlock()
	if !ok || h.Seq == 0 {
		return
	}
	if h.Seq > uint64(len(recs)) || recs[h.Seq-1].Seq != h.Seq || recs[h.Seq-1].Hash != h.Hash {
		s.divergence(peer, fmt.Sprintf("%s's records no longer contain the head %d/%.12s it sent earlier", peer, h.Seq, h.Hash))
	}
}

// fetchRecords asks a peer for its whole chain, a page at a time.
func (s *Service) fetchRecords(ctx context.Context, peer string) ([]audit.Record, error) {
	var out []audit.Record
	from := uint64(1)
	for {
		nonce := newNonce()
		ch := make(chan message, 1)
		s.mu.Lock()
		s.calls[nonce] = pendingCall{peer: peer, ch: ch}
		s.mu.Unlock()
		s.send(peer, message{Type: msgAuditReq, Nonce: nonce, From: from})
		var m message
		select {
		case m = <-ch:
		case <-ctx.Done():
			s.mu.Lock()
			delete(s.calls, nonce)
			s.mu.Unlock()
			return nil, fmt.Errorf("fetching %s's audit records from %d: %w: %v", peer, from, ErrPeer, ctx.Err())
		}
		out = append(out, m.Records...)
		if len(m.Records) < auditPage {
			return out, nil
		}
		from = m.Records[len(m.Records)-1].Seq + 1
	}
}

func (s *Service) onAuditReq(from string, m message) {
	if m.Nonce == "" || m.From == 0 {
		return
	}
	recs, err := s.st.Audit().Records(m.From, auditPage)
	if err != nil {
		s.log.Error("reading audit records for a peer", "peer", from, "err", err)
		return
	}
	s.send(from, message{Type: msgAuditResp, Nonce: m.Nonce, Records: recs})
}

// answer delivers an audit_resp to the call waiting for it.
func (s *Service) answer(from string, m message) {
	s.mu.Lock()
	c, ok := s.calls[m.Nonce]
	if ok && c.peer == from {
		delete(s.calls, m.Nonce)
	}
	s.mu.Unlock()
	if !ok || c.peer != from {
		s.m.peerMsgs.WithLabelValues(m.Type, "unexpected").Inc()
		return
	}
	c.ch <- m
}

type pendingCall struct {
	peer string
	ch   chan message
}

// VerifyAudit checks this node's stored chain.
func (s *Service) VerifyAudit() error {
	if err := s.st.Audit().Verify(); err != nil {
		return err
	}
	return nil
}
