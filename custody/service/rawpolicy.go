package service

import (
	"context"
	"fmt"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/node"
)

// RawSignPolicy is custody's authorizer of a node that runs no custody
// service (the demo): it accepts the raw-digest signing path only for keys the node's
// own policy lists as canary keys, and only over the drill message of the
// proposal's request ID (custody.CheckRawDrill), which it recomputes.
type RawSignPolicy struct{ Policy custody.Policy }

// AuthorizeSign implements node.Authorizer.
func (r RawSignPolicy) AuthorizeSign(_ context.Context, keyID string, p *node.Proposal) error {
	if len(p.Payload) != 0 {
		return fmt.Errorf("typed requests need the custody service")
	}
	return custody.CheckRawDrill(r.Policy, keyID, p.RequestID, p.Digest)
}

var _ node.Authorizer = RawSignPolicy{}
