package node

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/triad-custody/triad/tss"
)

// Keygen commit (protocol version 3, ../shared/SECURITY.md scenarios 12 and 29).
// A keygen can end at one participant and not at the others, and under
// version 2 a proposer's withdrawal removed a share a participant had
// saved: a hostile proposer could withdraw a keygen that succeeded at one
// party only and so make the honest parties disagree on whether the key
// exists. Under version 3 a key is put in force by its parties, not by the
// proposer:
//
//  1. When its session ends, a party seals its share as pending, and from
//     then on refuses a withdrawal of the keygen (counted, recorded as an
//     incident naming the proposer).
//  2. It signs a commit (session, group key, public view of the sharing,
//     itself) with its own secret share (tss.KeyShare.SignCommit) and
//     sends it to every other party. Each party verifies a commit against
//     the public share its own new share lists for the signer, so a
//     commit is bound to this keygen's outcome and can be relayed: a party
//     relays the first valid commit of each other party to the parties
//     other than its signer and its sender, so that a commit the proposer
//     gave one honest party reaches the other.
//  3. A party puts the share in force once it holds the commits of every
//     party of the keygen. Without them by the session deadline plus
//     commitGrace, it discards the pending share: the key does not exist.
//
// A party that commits but whose commit is lost on the way (and never
// relayed) leaves the others without the key; it discards its own at the
// deadline as well. What remains is a race on the network's delay: a
// commit delivered to one honest party just before its deadline is
// relayed to the other, which may receive it after its own.
//
// A node of version 2 saves its share at once and obeys withdrawals
// (keygen_withdraw.go); a keygen needs version 3 at every party, and a
// version-3 node refuses one with a version-2 peer with ErrProtocolVersion.

// commitVersion is the first protocol version with keygen commits.
const commitVersion = 3

// commitGrace is the time after a keygen's session deadline during which
// its commits are still collected (the last session to end sends its
// commit at its deadline at the latest).
func (n *Node) commitGrace() time.Duration { return n.opt.KeygenTimeout / 8 }

// KeygenCommit is a party's signed statement that its keygen session ended
// with a share of PublicKey under the sharing View.
type KeygenCommit struct {
	SessionID tss.SessionID `json:"session_id"`
	Party     string        `json:"party"`
	PublicKey string        `json:"public_key"` // hex, compressed
	View      string        `json:"view"`       // hex tss.KeyShare.PublicView
	Sig       string        `json:"sig"`        // hex DER, by the party's secret share
}

type commitFrom struct {
	from string
	c    KeygenCommit
}

// keygenCommitsVersion refuses a keygen when a peer does not speak
// version 3 (or its versions are unknown): its share could not be
// committed, so nobody may keep one.
func (n *Node) keygenCommitsVersion() error {
	if n.ver.max < commitVersion {
		return nil
	}
	for _, peer := range n.Peers() {
		if v := n.PeerProtocol(peer); v < commitVersion {
			return fmt.Errorf("%w: a keygen needs protocol version %d (keygen commit) at every party; %s speaks %d",
				ErrProtocolVersion, commitVersion, peer, v)
		}
	}
	return nil
}

// persistKeygen puts the share of a keygen session that ended here in
// force: at once under version 2, by commitKeygen under version 3. from
// is the proposer, "" on the proposer itself.
func (n *Node) persistKeygen(s *tss.Session, rt *route, p *Proposal, from string) error {
	if n.ver.max >= commitVersion {
		return n.commitKeygen(s, rt, p, from)
	}
	share, err := s.KeyShare()
	if err != nil {
		return err
	}
	if err := n.opt.Keys.Save(n.ctx, share); err != nil {
		n.recordAbort(s, p.KeyID, err)
		return err
	}
	return nil
}

// commitKeygen runs steps 1 to 3 for a keygen session that ended here.
func (n *Node) commitKeygen(s *tss.Session, rt *route, p *Proposal, from string) error {
	share, err := s.KeyShare()
	if err != nil {
		return err
	}
	fail := func(err error, culprits ...string) error {
		if derr := n.opt.Keys.DiscardPending(p.KeyID); derr != nil {
			err = fmt.Errorf("%w (discarding the pending share: %v)", err, derr)
		}
		n.recordAbort(s, p.KeyID, &tss.Error{Err: err, Culprits: culprits, SessionID: p.SessionID})
		return err
	}
	if err := n.keygenCommitsVersion(); err != nil {
		return fail(err)
	}
	if err := n.opt.Keys.SavePending(n.ctx, share); err != nil {
		return fail(err)
	}
	if !n.markCommitted(p.SessionID, from, s.Deadline()) {
		return fail(fmt.Errorf("%w before this node committed", ErrWithdrawn))
	}
	own, err := signedCommit(share, p.SessionID, n.opt.Party)
	if err != nil {
		return fail(err)
	}
	for _, peer := range n.Peers() {
		n.sendCommit(peer, own)
	}
	held := map[string]bool{n.opt.Party: true}
	ctx, cancel := context.WithDeadline(n.ctx, s.Deadline().Add(n.commitGrace()))
	defer cancel()
	for len(held) < len(p.Participants) {
		select {
		case in := <-rt.commits:
			if held[in.c.Party] {
				continue
			}
			if err := checkCommit(share, p, in.c); err != nil {
				n.counts.add("keygen_bad_commit")
				n.log.Warn("refused keygen commit", "session", p.SessionID.Short(), "peer", in.from, "err", err)
				continue
			}
			held[in.c.Party] = true
			for _, peer := range n.Peers() { // relay: step 2
				if peer != in.from && peer != in.c.Party {
					n.sendCommit(peer, in.c)
				}
			}
		case <-ctx.Done():
			var missing []string
			for _, q := range p.Participants {
				if !held[q] {
					missing = append(missing, q)
				}
			}
			sort.Strings(missing)
			return fail(fmt.Errorf("%w: no keygen commit from %s by the deadline; pending share discarded, the key does not exist",
				tss.ErrTimeout, strings.Join(missing, ", ")), missing...)
		}
	}
	if _, err := n.opt.Keys.CommitPending(n.ctx, p.KeyID); err != nil {
		return fail(err)
	}
	return nil
}

// olderPeers are the peers among to that do not speak version 3.
func (n *Node) olderPeers(to []string) []string {
	var old []string
	for _, p := range to {
		if n.PeerProtocol(p) < commitVersion {
			old = append(old, p)
		}
	}
	return old
}

func signedCommit(share *tss.KeyShare, sid tss.SessionID, party string) (KeygenCommit, error) {
	pub, err := share.PublicKey()
	if err != nil {
		return KeygenCommit{}, err
	}
	view, err := share.PublicView()
	if err != nil {
		return KeygenCommit{}, err
	}
	sig, err := share.SignCommit(tss.KeygenCommitDigest(sid, pub.SerializeCompressed(), view, party))
	if err != nil {
		return KeygenCommit{}, err
	}
	return KeygenCommit{SessionID: sid, Party: party, PublicKey: hex.EncodeToString(pub.SerializeCompressed()),
		View: hex.EncodeToString(view[:]), Sig: hex.EncodeToString(sig)}, nil
}

// checkCommit verifies c against this node's own share of p's keygen: the
// same group key and sharing, signed by a participant's secret share.
func checkCommit(share *tss.KeyShare, p *Proposal, c KeygenCommit) error {
	if !contains(p.Participants, c.Party) {
		return fmt.Errorf("%s is not a party of the keygen", c.Party)
	}
	own, err := signedCommit(share, p.SessionID, c.Party)
	if err != nil {
		return err
	}
	if c.PublicKey != own.PublicKey || c.View != own.View {
		return fmt.Errorf("%s committed to another key or sharing", c.Party)
	}
	sig, err := hex.DecodeString(c.Sig)
	if err != nil {
		return fmt.Errorf("%w: from %s", tss.ErrCommit, c.Party)
	}
	pub, _ := hex.DecodeString(own.PublicKey)
	var view [32]byte
	hex.Decode(view[:], []byte(own.View))
	return share.VerifyCommit(c.Party, tss.KeygenCommitDigest(p.SessionID, pub, view, c.Party), sig)
}

func (n *Node) sendCommit(peer string, c KeygenCommit) {
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	if err := n.send(ctx, peer, frame{Kind: kindCommit, Commit: &c}); err != nil {
		n.log.Warn("keygen commit not sent", "session", c.SessionID.Short(), "peer", peer, "err", err)
	}
}

// commitRecord is a keygen this node committed to: until a keygen
// timeout after the keygen's deadline, its proposer's withdrawal of it is
// refused and recorded.
type commitRecord struct {
	from  string // the proposer ("" on the proposer itself)
	until time.Time
}

// markCommitted records that this node commits to session sid, proposed
// by from ("" here): from now on its proposer cannot withdraw it. False
// when sid was joined on from's proposal and from withdrew it first.
func (n *Node) markCommitted(sid tss.SessionID, from string, deadline time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.opt.Now()
	for s, c := range n.committed {
		if now.After(c.until) {
			delete(n.committed, s)
		}
	}
	if from != "" && n.joins[sid] == nil {
		return false
	}
	n.committed[sid] = commitRecord{from: from, until: deadline.Add(n.opt.KeygenTimeout)}
	return true
}

// withdrawRefusedLocked reports (and records) a withdrawal of a keygen
// this node has committed to; n.mu is held. It names nobody: an honest
// proposer may withdraw a keygen that failed at its end.
func (n *Node) withdrawRefusedLocked(from string, w Withdraw) bool {
	c, ok := n.committed[w.SessionID]
	if !ok || c.from != from {
		return false
	}
	n.counts.add("withdraw_refused_committed")
	n.addIncidentLocked(Incident{Time: n.opt.Now(), SessionID: w.SessionID.String(), Protocol: string(tss.Keygen),
		Error: fmt.Sprintf("%s withdrew a keygen after this node committed to it: withdrawal refused (%.200s)", from, w.Reason)})
	return true
}
