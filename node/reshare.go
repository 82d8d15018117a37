package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/triad-custody/triad/tss"
)

// Resharing replaces one party's node (disk lost, compromised, or planned
// rotation) while the group key and every address stay the same:
//
//  1. Two parties' operators sign a ReshareSpec: which key, which party is
//     replaced, the replacement node's new libp2p peer ID, the group key.
//  2. A surviving node (the coordinator) checks the approvals, pins the new
//     peer ID for the replaced party, and proposes the reshare; every node
//     checks the approvals itself before it joins.
//  3. The two survivors are the old committee (under their current
//     participant IDs); all three nodes form the new committee under new
//     IDs ("custodian#2"). Each new member seals its new share as PENDING;
//     the old shares stay in force.
//  4. Every node sends the others a confirmation (the public view of its
//     new share), then echoes every confirmation it received. A node
//     commits only if all three confirmations and both echoes agree with
//     its own view: the pending share replaces the old one, which is
//     destroyed, and the new peer ID is persisted. Any disagreement (an
//     equivocated confirmation) aborts: pending shares are discarded and
//     the old committee can still sign. A deadline with no decision keeps
//     both, for an operator to resolve.
//
// The code follows the steps: reshare_approvals.go and reshare_nonces.go
// (1: approvals and their single-use nonces), this file (2: the spec and the coordinator),
// reshare_proposal.go (2: a participant's checks), reshare_session.go (3:
// the local sessions) and reshare_commit.go (4: confirmations, echoes,
// commit or abort).

// ReshareSpec is what two parties' operators approve.
type ReshareSpec struct {
	// ReshareID is unique per reshare (operator-chosen or random).
	ReshareID string `json:"reshare_id"`
	KeyID     string `json:"key_id"`
	// Replace is the party whose node is replaced; the other two are the
	// old committee.
	Replace string `json:"replace"`
	// NewPeerID is the replacement node's libp2p peer ID ("" on an
	// in-memory network): the other nodes pin it for Replace.
	NewPeerID string `json:"new_peer_id,omitempty"`
	// PublicKey is the group key (hex, 33-byte compressed): the reshare
	// must keep it.
	PublicKey string    `json:"public_key"`
	Expires   time.Time `json:"expires"`
}

// Digest binds approvals to the spec.
func (s ReshareSpec) Digest() [32]byte {
	s.Expires = s.Expires.UTC().Truncate(time.Second)
	b, _ := json.Marshal(s) // plain struct: cannot fail
	return sha256.Sum256(append([]byte("triad/reshare-spec/v1\n"), b...))
}

func (s ReshareSpec) validate(parties []string) error {
	switch {
	case !validName(s.ReshareID):
		return fmt.Errorf("invalid reshare id %q", s.ReshareID)
	case !validName(s.KeyID):
		return fmt.Errorf("invalid key id %q", s.KeyID)
	case !contains(parties, s.Replace):
		return fmt.Errorf("%q is not a party", s.Replace)
	case s.Expires.IsZero():
		return errors.New("no expiry")
	}
	if s.NewPeerID != "" {
		if _, err := peer.Decode(s.NewPeerID); err != nil {
			return fmt.Errorf("new peer id: %v", err)
		}
	}
	if b, err := hex.DecodeString(s.PublicKey); err != nil || len(b) != 33 {
		return errors.New("public key must be 66 hex characters (compressed)")
	}
	return nil
}

// ReshareOrder is a spec with its approvals: what a coordinator runs.
type ReshareOrder struct {
	Spec      ReshareSpec       `json:"spec"`
	Approvals []ReshareApproval `json:"approvals"`
}

// Reshare errors.
var (
	ErrReshareApproval  = errors.New("node: reshare approvals insufficient")
	ErrReshareAborted   = errors.New("node: reshare aborted; old shares kept")
	ErrReshareUndecided = errors.New("node: reshare undecided; old and pending shares both kept")
	ErrRecoveryOff      = errors.New("node: recovery not enabled on this node")
)

// ReshareEvent is one step of a reshare, for progress output and audit.
type ReshareEvent struct {
	Time      time.Time `json:"time"`
	ReshareID string    `json:"reshare_id"`
	Party     string    `json:"party"`
	Step      string    `json:"step"`
	Detail    string    `json:"detail,omitempty"`
}

// ReshareResult reports a completed reshare on the coordinator.
type ReshareResult struct {
	ReshareID  string         `json:"reshare_id"`
	KeyID      string         `json:"key_id"`
	PublicKey  string         `json:"public_key"`
	NewParties []tss.Party    `json:"new_parties"`
	SessionID  string         `json:"session_id"`
	Duration   time.Duration  `json:"duration"`
	Steps      []ReshareEvent `json:"steps"`
}

// Reshare coordinates an approved reshare from this surviving node and
// returns once every node has committed (or the first failure). progress,
// if set, hears each step on this node.
func (n *Node) Reshare(ctx context.Context, o ReshareOrder, progress func(ReshareEvent)) (*ReshareResult, error) {
	start := time.Now()
	res := &ReshareResult{ReshareID: o.Spec.ReshareID, KeyID: o.Spec.KeyID, PublicKey: o.Spec.PublicKey}
	step := func(s, detail string) {
		e := n.reshareEvent(o.Spec.ReshareID, s, detail)
		res.Steps = append(res.Steps, e)
		if progress != nil {
			progress(e)
		}
	}
	if err := n.verifyApprovals(o); err != nil {
		return res, err
	}
	step("approvals verified", fmt.Sprintf("%d approval(s)", len(o.Approvals)))
	if o.Spec.Replace == n.opt.Party {
		return res, fmt.Errorf("node: the node being replaced cannot coordinate its own reshare")
	}
	share, err := n.opt.Keys.Load(ctx, o.Spec.KeyID)
	if err != nil {
		return res, err
	}
	pub, _ := share.PublicKey()
	if hex.EncodeToString(pub.SerializeCompressed()) != o.Spec.PublicKey {
		return res, fmt.Errorf("node: key %s is not the approved public key", o.Spec.KeyID)
	}
	old, gen := survivorsView(share, o.Spec.Replace)
	if len(old) != share.Threshold+1 {
		return res, fmt.Errorf("node: %d survivors for a threshold-%d key", len(old), share.Threshold)
	}
	body, _ := json.Marshal(reshareBody{Order: o, OldParties: old, Generation: gen})
	p := &Proposal{Protocol: tss.Reshare, KeyID: o.Spec.KeyID, RequestID: "reshare/" + o.Spec.ReshareID,
		Participants: n.opt.Parties, Threshold: share.Threshold, Payload: body}
	p.SessionID = p.sessionIDFor()
	res.SessionID = p.SessionID.String()
	for _, q := range newCommittee(n.opt.Parties, gen) {
		res.NewParties = append(res.NewParties, q)
	}
	j, err := n.prepareReshare(p, step)
	if err != nil {
		return res, err
	}
	defer j.close()
	for _, peer := range n.Peers() {
		if err := n.send(ctx, peer, frame{Kind: kindPropose, Proposal: p}); err != nil {
			return res, fmt.Errorf("node: reshare needs every node; %s: %w", peer, err)
		}
	}
	step("proposed", strings.Join(n.Peers(), ", "))
	runErr := j.run(ctx)
	// Done only when the other two nodes have decided as well; after a
	// failure here, wait a bounded time for their (abort) decisions.
	wait := j.deadline
	if runErr != nil {
		if d := time.Now().Add(30 * time.Second); d.Before(wait) {
			wait = d
		}
	}
	wctx, cancel := context.WithDeadline(ctx, wait)
	defer cancel()
	var peerErrs []string
	for waiting := len(n.Peers()); waiting > 0; waiting-- {
		select {
		case ack := <-j.rt.saved:
			if ack.reason != "" {
				peerErrs = append(peerErrs, ack.from+": "+ack.reason)
				step("peer did not commit", ack.from+": "+ack.reason)
				continue
			}
			step("peer committed", ack.from)
		case <-wctx.Done():
			if runErr != nil {
				return res, runErr
			}
			return res, fmt.Errorf("%w: %d node(s) did not report their commit: %v", ErrReshareUndecided, waiting, wctx.Err())
		}
	}
	if runErr != nil {
		return res, runErr
	}
	if len(peerErrs) > 0 {
		return res, fmt.Errorf("node: reshare %s: not every node committed: %s", o.Spec.ReshareID, strings.Join(peerErrs, "; "))
	}
	res.Duration = time.Since(start)
	step("reshare complete", res.Duration.Round(time.Millisecond).String())
	return res, nil
}

func (n *Node) reshareEvent(id, s, detail string) ReshareEvent {
	e := ReshareEvent{Time: n.opt.Now(), ReshareID: id, Party: n.opt.Party, Step: s, Detail: detail}
	n.log.Info("reshare", "reshare", id, "step", s, "detail", detail)
	if rs := n.recovery(); rs != nil && rs.opt.Observer != nil {
		rs.opt.Observer(e)
	}
	return e
}

// recovery returns the node's recovery state, nil until EnableRecovery.
func (n *Node) recovery() *recoveryState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rec
}
