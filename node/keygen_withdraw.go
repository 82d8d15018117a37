package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/triad-custody/triad/tss"
)

// A keygen can end at one participant and not at the others: one whose
// own frames are lost (muted, cut one way) still hears every message and
// finishes, saving its share, while the others wait for it and fail. The
// proposer then withdraws the keygen, and a participant that saved a share
// of it removes that share: a key only some nodes hold can never sign, and
// it would make every retry of the key ID fail ("key already exists"). A
// withdrawal counts until a keygen timeout after the keygen's deadline,
// and only for the share that keygen produced (../shared/SECURITY.md scenarios 11, 12, 29).
//
// This is protocol version 2's behaviour, kept for a node configured to
// speak at most version 2: within that window a hostile proposer could
// withdraw a keygen that succeeded everywhere and so make the others drop
// a new key. From version 3 a keygen's shares are put in force by its
// parties' commits and a withdrawal after a party's commit is refused
// (keygen_commit.go).

// keygenDone is a keygen joined here whose share is saved.
type keygenDone struct {
	from, keyID string
	pub         []byte // the group key the share is of
	until       time.Time
}

// keygenSaved records that the keygen of p, proposed by from, saved its
// share here; if the proposer withdrew it meanwhile (ctx ended with
// ErrWithdrawn), the share is removed at once and the error returned.
func (n *Node) keygenSaved(ctx context.Context, from string, p *Proposal, s *tss.Session) error {
	share, err := s.KeyShare()
	if err != nil {
		return err
	}
	pub, err := share.PublicKey()
	if err != nil {
		return err
	}
	n.mu.Lock()
	now := n.opt.Now()
	for sid, d := range n.keygensDone {
		if now.After(d.until) {
			delete(n.keygensDone, sid)
		}
	}
	// The proposer withdraws once its own attempt has failed, at the
	// latest at its deadline, about this session's: a keygen timeout of
	// grace covers the withdrawal's delivery.
	n.keygensDone[p.SessionID] = keygenDone{from: from, keyID: p.KeyID, pub: pub.SerializeCompressed(),
		until: s.Deadline().Add(n.opt.KeygenTimeout)}
	n.mu.Unlock()
	if cause := context.Cause(ctx); errors.Is(cause, ErrWithdrawn) {
		n.dropWithdrawnKeygen(from, Withdraw{SessionID: p.SessionID, Reason: cause.Error()})
		return cause
	}
	return nil
}

// dropWithdrawnKeygen removes the share a withdrawn keygen saved here;
// false when w is not for such a keygen of from.
func (n *Node) dropWithdrawnKeygen(from string, w Withdraw) bool {
	n.mu.Lock()
	d, ok := n.keygensDone[w.SessionID]
	if ok && d.from == from && !n.opt.Now().After(d.until) {
		delete(n.keygensDone, w.SessionID)
	} else {
		ok = false
	}
	n.mu.Unlock()
	if !ok {
		return false
	}
	err := n.dropKeygenShare(d)
	n.counts.add("withdrawn_keygen_share_removed")
	n.log.Warn("removed the share of a keygen its proposer withdrew", "session", w.SessionID.Short(), "peer", from,
		"key", d.keyID, "reason", w.Reason, "err", err)
	n.mu.Lock()
	n.addIncidentLocked(Incident{Time: n.opt.Now(), SessionID: w.SessionID.String(), Protocol: string(tss.Keygen), KeyID: d.keyID,
		Error: fmt.Sprintf("keygen withdrawn by %s after this node saved its share; share removed (%v): %.200s", from, errOrNone(err), w.Reason)})
	n.mu.Unlock()
	return true
}

// dropKeygenShare removes keyID's share if it is still the one of d.
func (n *Node) dropKeygenShare(d keygenDone) error {
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	cur, err := n.opt.Keys.Load(ctx, d.keyID)
	if err != nil {
		return err
	}
	pub, err := cur.PublicKey()
	if err != nil {
		return err
	}
	if string(pub.SerializeCompressed()) != string(d.pub) {
		return fmt.Errorf("the share of %s is not the withdrawn keygen's: kept", d.keyID)
	}
	return n.opt.Keys.Destroy(d.keyID)
}

func errOrNone(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
