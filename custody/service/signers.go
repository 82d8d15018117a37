package service

import (
	"slices"

	"github.com/triad-custody/triad/custody"
)

// signersLocked picks the pair that signs a request this node approves
// (Evaluate's verdict), or nil while no pair that includes this node can
// sign now. The first of the pair coordinates.
//
// Evaluate's Signers are the first two approved parties in party order.
// The pair that signs passes over a party that cannot sign now: one this
// node cannot reach (its node is down or cut off), one whose node reported
// a final status (lapsed, rejected, failed), and, until the time it gave,
// one that reported "too early". So an any-two quorum (emergency unfreeze,
// canary) with the custodian down is signed by the exchange and the
// regulator; an all-of quorum (release, liquidation) has one pair and
// waits, rather than spend attempts on a partner that cannot join. The
// request is looked at again on every tick and peer message.
//
// Every node applies this rule to its own view, so two nodes may both
// think they coordinate. That costs an attempt, never a second signature:
// a coordinator joins no other session for the request while its own
// runs, and a partner joins at most one live session per request.
func (s *Service) signersLocked(id string, req custody.Request, st custody.State) []custody.Party {
	operatorOnly := req.Kind == custody.KindUnfreeze || req.Kind == custody.KindCanary
	pair := custody.QuorumFor(req.Kind).Signers(func(p custody.Party) bool {
		if p == s.party {
			return true
		}
		a, ok := st.Approvals[p]
		return ok && (!operatorOnly || !a.Auto) && s.reachableLocked(p) && !s.peerCannotSignLocked(id, p)
	})
	if !slices.Contains(pair, s.party) {
		return nil
	}
	return pair
}

// reachableLocked reports whether party p's node can be reached now.
func (s *Service) reachableLocked(p custody.Party) bool {
	if p == s.party {
		return true
	}
	n, _ := s.network()
	return n != nil && n.Connected(string(p))
}

// peerCannotSignLocked reports whether peer p said it cannot sign request
// id: a final status, or, in its newest report, a refusal only time lifts
// ("too early"). Such a refusal holds until p reports again, which it does
// when its own decision changes and when this node asks (offer's query,
// which p answers after evaluating afresh), not until the time p gave:
// p's node may have been down meanwhile, and down time never counts
// toward its notice period, so only p can say its time has come. No
// attempt is spent on a guess (a request has few).
func (s *Service) peerCannotSignLocked(id string, p custody.Party) bool {
	if p == s.party {
		return false
	}
	ps, ok := s.peers[id][p]
	switch {
	case !ok:
		return false
	case ps.Status.Terminal() && ps.Status != custody.StatusDone:
		return true
	}
	return !ps.wait.retryAt.IsZero()
}
