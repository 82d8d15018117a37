package service

import (
	"slices"
	"strings"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/store"
)

// offerEvery is the least interval between offers of one request to one
// peer (offerDueLocked: it doubles up to maxBackoff while nothing changes).
const offerEvery = 30 * time.Second

// The request flow's anti-entropy. Sends are not queued: a peer that was
// down or cut off when a request was proposed or endorsed never got those
// messages, and nothing else would tell it. So on a tick a node offers
// each open request, when due (offerDueLocked: offerEvery after a tick
// first sees it, at once when the peers' reachability changed, backing off
// to maxBackoff while nothing changes), to each connected peer whose
// newest report shows it lacks something this node holds (no report at
// all: it may lack everything): the proposal, if this node's party made
// it; the operators' signed approvals and vetoes, which any node may
// relay because the receiver verifies every signature with its own
// policy; and this node's own automatic approval, which only it can vouch
// for. Approvals already expired are not offered (the receiver would
// refuse them: an operator approves again). Duplicates cost nothing: a
// stored proposal is idempotent and a known approval is a replay the
// receiver ignores. It also pulls: it asks each connected peer about each
// open request when due, with its own status, and the answer (onQuery)
// carries what the peer holds and the status does not list, so what ended
// at the peers while this node was away (a veto) still reaches it.

// holds is what a node reports it has recorded of a request's
// endorsements ("party:stance", sorted).
func holds(p custody.Progress) []string {
	var out []string
	for party := range p.Approvals {
		out = append(out, string(party)+":"+string(custody.Approve))
	}
	for party := range p.Vetoes {
		out = append(out, string(party)+":"+string(custody.Veto))
	}
	slices.Sort(out)
	return out
}

// offer runs the anti-entropy pass over the open requests. reconnected:
// the peers' reachability changed since the last pass, so every open
// request is due at once to every peer.
func (s *Service) offer(pending []store.Entry, reconnected bool) {
	n, _ := s.network()
	if n == nil {
		return
	}
	open := map[string]bool{}
	for _, e := range pending {
		open[e.Request.ID()] = true
	}
	s.mu.Lock()
	for k := range s.offered {
		if id, _, _ := strings.Cut(strings.TrimPrefix(k, "q|"), "|"); !open[id] {
			delete(s.offered, k)
			delete(s.sched.offers, k)
		}
	}
	s.mu.Unlock()
	for _, e := range pending {
		id := e.Request.ID()
		signed, err := s.st.SignedApprovals(id)
		if err != nil {
			s.log.Warn("reading signed approvals", "request", short(id), "err", err)
			continue
		}
		for _, p := range n.Peers() {
			if !n.Connected(p) {
				continue
			}
			for _, m := range s.missingFor(custody.Party(p), e, signed, reconnected) {
				s.send(p, m)
			}
			// Pull as well as push: the peer answers with its status and
			// the endorsements it holds that this node's status does not
			// list (onQuery), so a veto recorded while this node was away
			// reaches it even when the request has ended at the peer.
			s.mu.Lock()
			var q *message
			if s.offerDueLocked("q|"+id+"|"+p, s.offerStateLocked(id, custody.Party(p)), reconnected) {
				q = &message{Type: msgQuery, RequestID: id}
				if st := s.statusMessageLocked(id); st != nil {
					q.Status = st.Status // what this node holds: the answer skips it
				}
			}
			s.mu.Unlock()
			if q != nil {
				s.send(p, *q)
			}
		}
	}
}

// missingFor returns the messages of request e that peer p's newest
// report says it lacks, when due (offerDueLocked).
func (s *Service) missingFor(p custody.Party, e store.Entry, signed []custody.Approval, now bool) []message {
	id := e.Request.ID()
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, reported := s.peers[id][p]
	has := func(party custody.Party, st custody.Stance) bool {
		return reported && slices.Contains(ps.Holds, string(party)+":"+string(st))
	}
	var out []message
	if !reported && e.Request.Requester.Party == s.party {
		out = append(out, message{Type: msgPropose, RequestID: id, Request: e.Request.Canonical()})
	}
	out = append(out, s.endorsements(e, signed, has)...)
	if len(out) == 0 || !s.offerDueLocked(id+"|"+string(p), s.offerStateLocked(id, p), now) {
		return nil
	}
	return out
}

// endorsements are the messages carrying what this node holds of request
// e's endorsements and has says the receiver lacks: the operators'
// unexpired signed approvals and vetoes, and this node's own automatic
// approval.
func (s *Service) endorsements(e store.Entry, signed []custody.Approval, has func(custody.Party, custody.Stance) bool) []message {
	id, canon := e.Request.ID(), e.Request.Canonical()
	var out []message
	now := s.clock.Now()
	for _, a := range signed {
		if !has(a.Party, a.Stance) && now.Before(a.Expires) {
			out = append(out, message{Type: msgEndorse, RequestID: id, Request: canon, Approval: &a})
		}
	}
	if en, ok := e.Progress.Approvals[s.party]; ok && en.Auto && !has(s.party, custody.Approve) {
		out = append(out, message{Type: msgEndorse, RequestID: id, Request: canon, Auto: true})
	}
	return out
}

// offerStateLocked is what this node and peer p last said of request
// id: when it changes, offers to p are due again after offerEvery
// (offerDueLocked).
func (s *Service) offerStateLocked(id string, p custody.Party) string {
	ps, ok := s.peers[id][p]
	if !ok {
		return s.published[id]
	}
	return s.published[id] + "|" + string(ps.Status) + "|" + strings.Join(ps.Holds, ",")
}
