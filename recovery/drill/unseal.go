package drill

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/recovery"
)

// Unseal has each node prove it can unseal its shards (public data only)
// and checks that every node holds the same public view of each key.
func Unseal(c Cluster, cfg Config) (*recovery.Report, error) {
	r, err := start(c, cfg, "unseal")
	if err != nil {
		return nil, err
	}
	if err := r.needOne(); err != nil {
		return nil, err
	}
	views := map[string]map[string]string{} // key → party → view
	for _, p := range c.Parties() {
		r.step(p+" unseals its shards", func() (string, error) { return r.unsealOne(p, views) })
	}
	r.step("every node holds the same public view of each key", func() (string, error) {
		for k, byParty := range views {
			var first string
			for p, v := range byParty {
				if first == "" {
					first = v
				} else if v != first {
					return "", fmt.Errorf("key %s: %s's view differs", k, p)
				}
			}
		}
		return fmt.Sprintf("%d key(s) consistent", len(views)), nil
	})
	return r.finish(node.DefaultParties)
}

func (r *run) unsealOne(p string, views map[string]map[string]string) (string, error) {
	if err := r.c.Reachable(p); err != nil {
		return "", fmt.Errorf("%s's API is not reachable", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := r.c.UnsealCheck(ctx, p)
	if err != nil {
		return "", err
	}
	var ok []string
	for _, k := range res.Keys {
		if k.Error != "" {
			return "", fmt.Errorf("%s: %s", k.KeyID, k.Error)
		}
		if k.PendingView != "" {
			return "", fmt.Errorf("%s: a reshare is undecided here (pending share %.16s…): run `triad reshare resolve`", k.KeyID, k.PendingView)
		}
		if views[k.KeyID] == nil {
			views[k.KeyID] = map[string]string{}
		}
		views[k.KeyID][p] = k.PublicKey + "/" + k.View
		ok = append(ok, k.KeyID)
	}
	return fmt.Sprintf("%d shard(s) unsealed with %s: %s", len(ok), res.HSM, strings.Join(ok, ", ")), nil
}
