package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/triad-custody/triad/tss"
)

// Distributed key generation. Every attempt has a fresh session ID (a
// random attempt nonce in its request ID), so a failed keygen can be
// retried at once (../shared/SECURITY.md scenario 29). What is generated comes from
// each node's own configuration, never from the proposer: the key ID must
// be one of its configured keys, and threshold and parties are its own
// (../shared/SECURITY.md scenario 31).

// ErrNoPreParams: this node has no pre-params ready for a keygen.
var ErrNoPreParams = errors.New("node: no pre-params ready")

// ErrKeygenRefused: a keygen this node's configuration does not allow.
var ErrKeygenRefused = errors.New("node: keygen refused")

const keygenPrefix = "keygen/"

// keygenThreshold is the threshold of every key this node generates,
// from its own party list: t+1 of n signers, a majority (2-of-3).
func (n *Node) keygenThreshold() int { return len(n.opt.Parties) / 2 }

// keygenRole returns the role this node's configuration gives keyID and
// whether its keygen needs operator approvals.
func (n *Node) keygenRole(keyID string) (role string, approvals bool, err error) {
	if n.opt.KeygenRule != nil {
		if role, approvals, ok := n.opt.KeygenRule(keyID); ok {
			return role, approvals, nil
		}
	}
	return "", false, fmt.Errorf("%w: %s is not a key in %s's configuration (policy.keys)", ErrKeygenRefused, keyID, n.opt.Party)
}

// Keygen runs a distributed key generation of a canary key with all
// parties and returns this node's new share once every party holds one.
// It checks its own configuration and pre-params before it proposes; when
// the attempt fails after proposing, it withdraws the proposal so that the
// other nodes leave the session at once.
func (n *Node) Keygen(ctx context.Context, keyID string) (*tss.KeyShare, error) {
	return n.keygen(ctx, keyID, nil)
}

// KeygenCustody is Keygen of a custody key, with the operator approvals
// every node checks before it takes part.
func (n *Node) KeygenCustody(ctx context.Context, o KeygenOrder) (*tss.KeyShare, error) {
	return n.keygen(ctx, o.Spec.KeyID, &o)
}

func (n *Node) keygen(ctx context.Context, keyID string, o *KeygenOrder) (*tss.KeyShare, error) {
	if !validName(keyID) {
		return nil, fmt.Errorf("%w: invalid key id %q", ErrKeygenRefused, keyID)
	}
	if err := n.checkKeygenOrder(keyID, o); err != nil {
		return nil, err
	}
	if n.keygenThreshold() < 1 {
		return nil, fmt.Errorf("node: keygen needs at least 2 parties")
	}
	if n.opt.Keys.Has(keyID) {
		return nil, fmt.Errorf("%w: key %s already exists", ErrKeygenRefused, keyID)
	}
	nonce := make([]byte, 16)
	_, err := rand.Read(nonce)
	if err != nil {
		return nil, err
	}
	p := &Proposal{Protocol: tss.Keygen, KeyID: keyID, RequestID: keygenPrefix + keyID + "/" + hex.EncodeToString(nonce),
		Participants: n.opt.Parties, Threshold: n.keygenThreshold()}
	if o != nil {
		if p.Payload, err = json.Marshal(o); err != nil {
			return nil, err
		}
	}
	p.SessionID = p.sessionIDFor()
	if ready, running := n.opt.Pool.Ready(); ready == 0 {
		return nil, fmt.Errorf("%w on %s (%d being generated): nothing was proposed; retry once `triad status` shows pre-params ready",
			ErrNoPreParams, n.opt.Party, running)
	}
	s, err := n.keygenSession(ctx, p)
	if err != nil {
		return nil, err
	}
	rt, err := n.r.open(p.SessionID)
	if err != nil {
		return nil, err
	}
	defer n.r.close(p.SessionID)
	var proposed []string
	fail := func(err error) (*tss.KeyShare, error) {
		n.withdraw(p, proposed, err.Error())
		return nil, err
	}
	for _, peer := range n.Peers() {
		if err := n.send(ctx, peer, frame{Kind: kindPropose, Proposal: p}); err != nil {
			err = s.Abort(fmt.Errorf("%w: keygen needs every party; proposing to %s: %v", tss.ErrUnreachable, peer, err), peer)
			n.recordAbort(s, keyID, err)
			return fail(err)
		}
		proposed = append(proposed, peer)
	}
	if err := n.run(ctx, s, rt, p); err != nil {
		return fail(err)
	}
	if err := n.persistKeygen(s, rt, p, ""); err != nil {
		if n.ver.max >= commitVersion {
			// The others decide by the commits they hold; only a peer
			// of version 2, which saved its share at once, is told.
			n.withdraw(p, n.olderPeers(proposed), err.Error())
			return nil, err
		}
		return fail(err)
	}
	// Done only when every party has its share on disk.
	wctx, cancel := context.WithDeadline(ctx, s.Deadline().Add(n.commitGrace()))
	defer cancel()
	for waiting := len(n.opt.Parties) - 1; waiting > 0; waiting-- {
		select {
		case ack := <-rt.saved:
			if ack.Reason != "" {
				return nil, fmt.Errorf("node: keygen %s: %s could not save its share: %s", keyID, ack.From, ack.Reason)
			}
		case <-wctx.Done():
			return nil, fmt.Errorf("node: keygen %s: %d part(ies) did not confirm their share: %w", keyID, waiting, wctx.Err())
		}
	}
	return s.KeyShare()
}

// checkKeygenProposal makes a participant's own checks of a keygen
// proposal: a key of its own configuration that it does not hold yet, its
// own parties and threshold, a fresh attempt, and for a custody key two
// parties' approvals.
func (n *Node) checkKeygenProposal(p *Proposal) error {
	var o *KeygenOrder
	if len(p.Payload) > 0 {
		o = new(KeygenOrder)
		if err := json.Unmarshal(p.Payload, o); err != nil {
			return fmt.Errorf("%w: keygen approvals: %v", ErrKeygenRefused, err)
		}
	}
	if err := n.checkKeygenOrder(p.KeyID, o); err != nil {
		return err
	}
	if n.opt.Keys.Has(p.KeyID) {
		return fmt.Errorf("node: key %s already exists", p.KeyID)
	}
	if p.Threshold != n.keygenThreshold() {
		return fmt.Errorf("%w: threshold %d proposed, %s's configuration gives %d", ErrKeygenRefused, p.Threshold, n.opt.Party, n.keygenThreshold())
	}
	if len(p.Participants) != len(n.opt.Parties) {
		return fmt.Errorf("%w: keygen must include all %d parties", ErrKeygenRefused, len(n.opt.Parties))
	}
	for i, q := range n.opt.Parties {
		if p.Participants[i] != q {
			return fmt.Errorf("%w: keygen participants %v are not this cluster's %v", ErrKeygenRefused, p.Participants, n.opt.Parties)
		}
	}
	nonce, ok := strings.CutPrefix(p.RequestID, keygenPrefix+p.KeyID+"/")
	if b, err := hex.DecodeString(nonce); !ok || err != nil || len(b) != 16 {
		return fmt.Errorf("%w: request id %.80q is not keygen/<key id>/<32 hex digits>", ErrKeygenRefused, p.RequestID)
	}
	if p.Attempt != 0 || len(p.Digest) != 0 || p.ChildPath != "" || p.ShareView != "" {
		return fmt.Errorf("%w: a keygen proposal carries no signing fields", ErrKeygenRefused)
	}
	return nil
}

// keygenSession opens a DKG session with pre-params from this node's own
// pool, waiting for them until ctx ends or half the keygen deadline.
func (n *Node) keygenSession(ctx context.Context, p *Proposal) (*tss.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, n.opt.KeygenTimeout/2)
	defer cancel()
	pp, err := n.opt.Pool.Take(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoPreParams, err)
	}
	return tss.NewKeygenSession(tss.KeygenConfig{
		Config:    n.sessionConfig(p.SessionID, n.opt.KeygenTimeout),
		KeyID:     p.KeyID,
		Parties:   tss.NodeParties(n.opt.Parties...),
		Threshold: n.keygenThreshold(),
		PreParams: pp,
	})
}
