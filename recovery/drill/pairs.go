package drill

import (
	"fmt"
	"slices"

	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/recovery"
)

// pairs are the three signing pairs, in the order the drills try them.
var pairs = [][2]string{{"custodian", "exchange"}, {"custodian", "regulator"}, {"exchange", "regulator"}}

// NodeLoss treats lost's node as lost: the other two parties sign a canary.
func NodeLoss(c Cluster, cfg Config, lost string) (*recovery.Report, error) {
	if !slices.Contains(node.DefaultParties, lost) || cfg.KeyID == "" {
		return nil, usage("--party must be one of %v and --key-id is required", node.DefaultParties)
	}
	r, err := start(c, cfg, "node-loss")
	if err != nil {
		return nil, err
	}
	r.d.Param("lost_party", lost)
	var rest []string
	for _, p := range node.DefaultParties {
		if p != lost {
			rest = append(rest, p)
		}
	}
	if c.Reachable(rest[0]) != nil {
		rest[0], rest[1] = rest[1], rest[0]
	}
	if err := r.needOne(); err != nil {
		return nil, err
	}
	r.step(fmt.Sprintf("%s treated as lost; %s and %s remain", lost, rest[0], rest[1]), func() (string, error) { return "", nil })
	r.step(fmt.Sprintf("%s+%s sign a canary", rest[0], rest[1]), func() (string, error) { return r.canary(rest[0], rest[1]) })
	return r.finish(rest)
}

// AllPairs has each of the three pairs sign a canary.
func AllPairs(c Cluster, cfg Config) (*recovery.Report, error) {
	if cfg.KeyID == "" {
		return nil, usage("--key-id is required")
	}
	r, err := start(c, cfg, "all-pairs")
	if err != nil {
		return nil, err
	}
	if err := r.needOne(); err != nil {
		return nil, err
	}
	for _, pair := range pairs {
		a, b := pair[0], pair[1]
		if c.Reachable(a) != nil {
			a, b = b, a
		}
		r.step(fmt.Sprintf("%s+%s sign a canary", pair[0], pair[1]), func() (string, error) { return r.canary(a, b) })
	}
	return r.finish(node.DefaultParties)
}
