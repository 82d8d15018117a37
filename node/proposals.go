package node

import (
	"context"
	"fmt"
	"time"

	"github.com/triad-custody/triad/tss"
)

// Proposals from peers: a quota of open proposals per peer, with an
// explicit "busy" decline past it (../shared/SECURITY.md scenario 30), and the
// sessions this node joined, so that their proposer can withdraw them
// (../shared/SECURITY.md scenario 29).

// peerQuota is how many proposals one peer may have open here at once:
// the global bound shared out among the peers, so that however hard one
// peer floods, every other peer's proposals still find a slot.
func (n *Node) peerQuota() int {
	q := maxConcurrentProposals / max(1, len(n.Peers()))
	return max(1, q)
}

// admitProposal takes one of from's proposal slots, or reports why not.
// The caller releases an admitted slot with releaseProposal.
func (n *Node) admitProposal(from string) (ok bool, reason string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	open := n.openProposals[from]
	if open >= n.peerQuota() {
		n.counts.add("proposal_busy")
		first := !n.busyReported[from]
		n.busyReported[from] = true
		if first { // one incident per flood, not one per proposal
			n.addIncidentLocked(Incident{Time: n.opt.Now(), Protocol: "proposal", Culprits: []string{from},
				Error: fmt.Sprintf("%s exceeded its quota of %d open proposals; the excess is declined as busy", from, n.peerQuota())})
		}
		return false, fmt.Sprintf("busy: %s already has %d proposals open at %s", from, open, n.opt.Party)
	}
	select {
	case n.proposalSlots <- struct{}{}:
	default:
		n.counts.add("proposal_overload")
		return false, fmt.Sprintf("busy: %s has %d proposals open", n.opt.Party, maxConcurrentProposals)
	}
	n.openProposals[from] = open + 1
	return true, ""
}

func (n *Node) releaseProposal(from string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	<-n.proposalSlots
	if n.openProposals[from]--; n.openProposals[from] <= 0 {
		delete(n.openProposals, from)
		delete(n.busyReported, from)
	}
}

// declineBusy tells a proposer its proposal was not taken. It runs on the
// transport's goroutine for the proposal's stream, so a flooder waits for
// its own declines (libp2p's per-peer stream limits bound how many), and
// briefly: an unanswered decline is dropped, and counted.
func (n *Node) declineBusy(from string, sid tss.SessionID, reason string) {
	ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
	defer cancel()
	if err := n.send(ctx, from, frame{Kind: kindDecline, Decline: &Decline{SessionID: sid, Reason: reason}}); err != nil {
		n.counts.add("busy_decline_failed")
	}
}

// joined is a session this node joined on a peer's proposal.
type joined struct {
	from    string
	proto   tss.Protocol
	keyID   string
	session *tss.Session // nil until built
	cancel  context.CancelCauseFunc
}

// ErrWithdrawn: the proposer abandoned the session.
var ErrWithdrawn = fmt.Errorf("node: proposer withdrew the session")

// join registers a session joined on from's proposal; its context ends
// when the proposer withdraws it. A keygen proposal for a key ID this
// node is already generating is refused, unless it comes from the same
// proposer: then the proposer has given up the older attempt, which ends.
func (n *Node) join(from string, p *Proposal) (context.Context, func(), error) {
	ctx, cancel := context.WithCancelCause(n.ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.joins[p.SessionID] != nil { // a copy of a proposal being joined
		cancel(nil)
		return nil, nil, fmt.Errorf("%w: %s", ErrSessionUsed, p.SessionID.Short())
	}
	if p.Protocol == tss.Keygen {
		for sid, j := range n.joins {
			if j.proto != tss.Keygen || j.keyID != p.KeyID {
				continue
			}
			if _, ok := n.committed[sid]; j.from != from || ok {
				cancel(nil)
				return nil, nil, fmt.Errorf("busy: a keygen of %s proposed by %s is running", p.KeyID, j.from)
			}
			n.withdrawLocked(sid, j, fmt.Errorf("%w: %s proposed a newer keygen of %s", ErrWithdrawn, from, p.KeyID))
		}
	}
	n.joins[p.SessionID] = &joined{from: from, proto: p.Protocol, keyID: p.KeyID, cancel: cancel}
	return ctx, func() {
		n.mu.Lock()
		delete(n.joins, p.SessionID)
		n.mu.Unlock()
		cancel(nil)
	}, nil
}

// joinedSession records the session built for a joined proposal, so that
// a withdrawal can abort it with its reason.
func (n *Node) joinedSession(sid tss.SessionID, s *tss.Session) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if j := n.joins[sid]; j != nil {
		j.session = s
	}
}

// withdrawn handles a proposer's withdrawal: only the session's own
// proposer can end it.
func (n *Node) withdrawn(from string, w Withdraw) {
	if n.dropWithdrawnKeygen(from, w) { // a keygen that ended here: keygen_withdraw.go
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.withdrawRefusedLocked(from, w) {
		return
	}
	j := n.joins[w.SessionID]
	if j == nil || j.from != from {
		n.counts.add("withdraw_ignored")
		return
	}
	n.withdrawLocked(w.SessionID, j, fmt.Errorf("%w: %s: %.200s", ErrWithdrawn, from, w.Reason))
}

func (n *Node) withdrawLocked(sid tss.SessionID, j *joined, err error) {
	n.counts.add("withdrawn_" + string(j.proto))
	n.log.Info("leaving a session its proposer abandoned", "session", sid.Short(), "peer", j.from, "err", err)
	if j.session != nil {
		j.session.Abort(err)
	}
	j.cancel(err)
	delete(n.joins, sid)
}

// withdraw tells participants, in the background (an unreachable one
// must not delay a failover), that this node abandoned its proposal.
func (n *Node) withdraw(p *Proposal, to []string, reason string) {
	for _, peer := range to {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
			defer cancel()
			if err := n.send(ctx, peer, frame{Kind: kindWithdraw, Withdraw: &Withdraw{SessionID: p.SessionID, Reason: reason}}); err != nil {
				n.log.Warn("could not withdraw a proposal", "session", p.SessionID.Short(), "peer", peer, "err", err)
			}
		}()
	}
}
