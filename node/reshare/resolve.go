package reshare

import (
	"context"
	"fmt"
)

// An undecided reshare (ErrUndecided: the commit exchange did not finish
// here, so some node may have committed) leaves this node with its old
// share in force and the new one pending. Only evidence from the other
// nodes can say which to keep: if they hold the pending share's committee
// (its public view) in force, the reshare committed and so must this node;
// if the other survivor still holds the old committee, it did not. An
// operator (or `triad reshare resolve`, which compares the nodes' views)
// names the pending view it decided on, so a resolution never applies to a
// different pending share than the one looked at.

// Resolve ends an undecided reshare of keyID here: commit puts the
// pending share in force (destroying the old one), otherwise the pending
// share is discarded. pendingView must be the pending share's public view.
// The resolution is reported like a reshare step (the node's observer
// puts it on the audit chain). It works with resharing disabled too.
func (e *Engine) Resolve(ctx context.Context, keyID, pendingView string, commit bool) error {
	k := e.n.Keys()
	v, err := k.PendingView(ctx, keyID)
	if err != nil {
		return err
	}
	if v != pendingView {
		return fmt.Errorf("node: the pending share of %s has view %.16s…, not the %.16s… given: look again before resolving", keyID, v, pendingView)
	}
	id := "undecided-" + keyID
	if !commit {
		if err := k.DiscardPending(keyID); err != nil {
			return fmt.Errorf("node: discarding the pending share of %s: %w", keyID, err)
		}
		e.event(id, "resolved: discarded", "pending share "+v[:16]+" discarded by the operator; old share kept")
		return nil
	}
	if _, err := k.CommitPending(ctx, keyID); err != nil {
		return err
	}
	e.event(id, "resolved: committed", "pending share "+v[:16]+" put in force by the operator; old share destroyed")
	e.rekeyAfterCommit(ctx, func(what, detail string) { e.event(id, what, detail) })
	return nil
}
