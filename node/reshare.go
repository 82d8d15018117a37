package node

import (
	"context"
	"crypto/ed25519"

	"github.com/triad-custody/triad/node/reshare"
)

// Resharing is package node/reshare; these are the node's public names for
// it (used by daemon/, api/, recovery/, cmd/triad) and thin delegations.

// Resharing's records and options (node/reshare).
type (
	ReshareSpec     = reshare.Spec
	ReshareApproval = reshare.Approval
	ReshareOrder    = reshare.Order
	ReshareEvent    = reshare.Event
	ReshareResult   = reshare.Result
	RecoveryOptions = reshare.Options
)

// Reshare errors (node/reshare).
var (
	ErrReshareApproval  = reshare.ErrApproval
	ErrReshareAborted   = reshare.ErrAborted
	ErrReshareUndecided = reshare.ErrUndecided
	ErrRecoveryOff      = reshare.ErrRecoveryOff
)

// NonceFile is the used-nonce file's name in a node's data dir.
const NonceFile = reshare.NonceFile

// SignReshareApproval signs spec as operator of party (CLI and tests).
func SignReshareApproval(spec ReshareSpec, party, operator, nonce string, key ed25519.PrivateKey) ReshareApproval {
	return reshare.SignApproval(spec, party, operator, nonce, key)
}

// EnableRecovery turns on resharing for this node, one reshare's deadline
// its keygen timeout unless o.Timeout is set. Until it is called the node
// declines reshare proposals.
func (n *Node) EnableRecovery(o RecoveryOptions) {
	if o.Timeout <= 0 {
		o.Timeout = n.opt.KeygenTimeout
	}
	n.rsh.Enable(o)
}

// Reshare coordinates an approved reshare from this surviving node and
// returns once every node has committed (or the first failure). progress,
// if set, hears each step on this node.
func (n *Node) Reshare(ctx context.Context, o ReshareOrder, progress func(ReshareEvent)) (*ReshareResult, error) {
	return n.rsh.Reshare(ctx, o, progress)
}

// ResolveReshare ends an undecided reshare of keyID here
// (reshare.Engine.Resolve): commit puts the pending share in force,
// otherwise it is discarded; pendingView names the pending share.
func (n *Node) ResolveReshare(ctx context.Context, keyID, pendingView string, commit bool) error {
	return n.rsh.Resolve(ctx, keyID, pendingView, commit)
}
