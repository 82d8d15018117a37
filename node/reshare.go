package node

import (
	"context"

	"github.com/triad-custody/triad/node/reshare"
)

// Resharing is package node/reshare (its records, options and errors are
// named there); these are the node's thin delegations to it.

// EnableRecovery turns on resharing for this node, one reshare's deadline
// its keygen timeout unless o.Timeout is set. Until it is called the node
// declines reshare proposals.
func (n *Node) EnableRecovery(o reshare.Options) {
	if o.Timeout <= 0 {
		o.Timeout = n.opt.KeygenTimeout
	}
	n.rsh.Enable(o)
}

// Reshare coordinates an approved reshare from this surviving node and
// returns once every node has committed (or the first failure). progress,
// if set, hears each step on this node.
func (n *Node) Reshare(ctx context.Context, o reshare.Order, progress func(reshare.Event)) (*reshare.Result, error) {
	return n.rsh.Reshare(ctx, o, progress)
}

// ResolveReshare ends an undecided reshare of keyID here
// (reshare.Engine.Resolve): commit puts the pending share in force,
// otherwise it is discarded; pendingView names the pending share.
func (n *Node) ResolveReshare(ctx context.Context, keyID, pendingView string, commit bool) error {
	return n.rsh.Resolve(ctx, keyID, pendingView, commit)
}
