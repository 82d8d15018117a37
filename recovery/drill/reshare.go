package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/recovery"
)

// Reshare reshares the canary key of o to the fresh node o names, then
// has every pair sign with the new shares.
func Reshare(c Cluster, cfg Config, o reshare.Order) (*recovery.Report, error) {
	cfg.KeyID = o.Spec.KeyID
	r, err := start(c, cfg, "reshare")
	if err != nil {
		return nil, err
	}
	r.d.Param("replace", o.Spec.Replace)
	r.d.Param("new_peer_id", o.Spec.NewPeerID)
	var coord string
	for _, p := range c.Parties() {
		if c.Reachable(p) == nil && p != o.Spec.Replace && coord == "" {
			coord = p
		}
	}
	if coord == "" {
		return nil, errors.New("no surviving node's API is reachable: the drill could not run")
	}
	r.pub = o.Spec.PublicKey
	ok := r.step("reshare "+o.Spec.KeyID+" to the fresh "+o.Spec.Replace, func() (string, error) {
		res, err := RunReshare(r.out, "      ", c, coord, o)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("coordinated by %s in %s; public key unchanged", coord, res.Duration.Round(time.Millisecond)), nil
	})
	if ok {
		for _, pair := range pairs {
			r.step(fmt.Sprintf("%s+%s sign a canary with the new shares", pair[0], pair[1]), func() (string, error) { return r.canary(pair[0], pair[1]) })
		}
	}
	return r.finish(node.DefaultParties)
}

// RunReshare asks coord's node to run o and prints each step as the node
// reports it, indented by indent.
func RunReshare(w io.Writer, indent string, c Cluster, coord string, o reshare.Order) (*reshare.Result, error) {
	fmt.Fprintf(w, "%sreshare %s: replacing %s on key %s (usually well under a minute)...\n", indent, o.Spec.ReshareID, o.Spec.Replace, o.Spec.KeyID)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := c.Reshare(ctx, coord, o, func(e reshare.Event) {
		fmt.Fprintln(w, indent+"  "+recovery.Progress(e))
	})
	if err != nil {
		return nil, fmt.Errorf("reshare %s: %w", o.Spec.ReshareID, err)
	}
	return res, nil
}
