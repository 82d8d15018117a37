package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/triad-custody/triad/tss"
)

// An undecided reshare (ErrReshareUndecided: the commit exchange did not
// finish here, so some node may have committed) leaves this node with its
// old share in force and the new one pending. Only evidence from the other
// nodes can say which to keep: if they hold the pending share's committee
// (its public view) in force, the reshare committed and so must this node;
// if the other survivor still holds the old committee, it did not. An
// operator (or `triad reshare resolve`, which compares the nodes' views)
// names the pending view it decided on, so a resolution never applies to a
// different pending share than the one looked at.

// ErrNoPending: no undecided reshare of that key here.
var ErrNoPending = errors.New("node: no pending share of that key")

// PendingKeys lists the keys with a pending share (an undecided reshare),
// including ones this node holds no share of yet (a replacement node).
func (k *KeyStore) PendingKeys() []string {
	ents, err := os.ReadDir(k.dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".share.pending"); ok && validName(id) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// pendingView unseals the pending share of keyID and returns its public view.
func (k *KeyStore) pendingView(ctx context.Context, keyID string) (string, error) {
	if !validName(keyID) || !k.HasPending(keyID) {
		return "", fmt.Errorf("%w: %q", ErrNoPending, keyID)
	}
	b, err := k.pendingFile(keyID).Read(ctx)
	if err != nil {
		return "", fmt.Errorf("node: unsealing pending share of %s: %w", keyID, err)
	}
	s, err := tss.UnmarshalShare(b)
	clear(b)
	if err != nil {
		return "", err
	}
	if s.KeyID != keyID || s.Self.Node != k.node {
		return "", fmt.Errorf("node: pending share file for %s holds %s of %s", keyID, s.Self.Node, s.KeyID)
	}
	v, err := s.PublicView()
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(v[:]), nil
}

// ResolveReshare ends an undecided reshare of keyID here: commit puts the
// pending share in force (destroying the old one), otherwise the pending
// share is discarded. pendingView must be the pending share's public view.
// The resolution is reported like a reshare step (the node's observer
// puts it on the audit chain).
func (n *Node) ResolveReshare(ctx context.Context, keyID, pendingView string, commit bool) error {
	k := n.opt.Keys
	v, err := k.pendingView(ctx, keyID)
	if err != nil {
		return err
	}
	if v != pendingView {
		return fmt.Errorf("node: the pending share of %s has view %.16s…, not the %.16s… given: look again before resolving", keyID, v, pendingView)
	}
	id := "undecided-" + keyID
	if !commit {
		if err := k.discardPending(keyID); err != nil {
			return fmt.Errorf("node: discarding the pending share of %s: %w", keyID, err)
		}
		n.reshareEvent(id, "resolved: discarded", "pending share "+v[:16]+" discarded by the operator; old share kept")
		return nil
	}
	if _, err := k.commitPending(ctx, keyID); err != nil {
		return err
	}
	n.reshareEvent(id, "resolved: committed", "pending share "+v[:16]+" put in force by the operator; old share destroyed")
	n.rekeyAfterCommit(ctx, func(what, detail string) { n.reshareEvent(id, what, detail) })
	return nil
}
