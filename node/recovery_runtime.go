package node

import (
	"fmt"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/triad-custody/triad/node/reshare"
)

// EnableRecovery turns on resharing for a running node: operator keys from
// its policy (StartOptions.Operators), live re-pinning on its libp2p host,
// and pins.json in its data dir at commit (Start applies it through
// ApplyPins). observer, if set, hears every step (progress output, audit
// chain).
func (r *Runtime) EnableRecovery(observer func(reshare.Event)) {
	r.Node.EnableRecovery(reshare.Options{
		Operators: r.operators,
		Observer:  observer,
		Timeout:   r.Cfg.Sessions.KeygenTimeout,
		NonceFile: filepath.Join(r.Cfg.Resolve(r.Cfg.DataDir), reshare.NonceFile),
		Pin: func(party, id string, persist bool) error {
			pid, err := peer.Decode(id)
			if err != nil {
				return fmt.Errorf("node: new peer of %s: %w", party, err)
			}
			if err := r.Host.Repin(party, pid, nil); err != nil {
				return err
			}
			if persist {
				return SavePin(r.Cfg, party, id)
			}
			return nil
		},
	})
}
