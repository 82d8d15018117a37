package node

import (
	"context"
	"fmt"

	"github.com/triad-custody/triad/custody"
)

// RawSignPolicy is the default authorizer while no custody service is
// wired: it accepts the raw-digest signing path only for keys the node's
// own policy lists as canary keys, and refuses it for every other key.
type RawSignPolicy struct{ Policy custody.Policy }

// AuthorizeSign implements Authorizer.
func (r RawSignPolicy) AuthorizeSign(_ context.Context, keyID string, p *Proposal) error {
	if len(p.Payload) != 0 {
		return fmt.Errorf("typed requests need the custody service")
	}
	return custody.CheckRawDigest(r.Policy, keyID)
}
