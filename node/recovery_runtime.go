package node

import (
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/triad-custody/triad/tss"
)

// EnableRecovery turns on resharing for a running node: operator keys from
// its policy (StartOptions.Operators), live re-pinning on its libp2p host, and pins.json in its
// data dir at commit (Start applies it through ApplyPins). observer, if
// set, hears every step (progress output, audit chain).
func (r *Runtime) EnableRecovery(observer func(ReshareEvent)) {
	r.Node.EnableRecovery(RecoveryOptions{
		Operators: r.operators,
		Observer:  observer,
		Timeout:   r.Cfg.Sessions.KeygenTimeout,
		NonceFile: filepath.Join(r.Cfg.Resolve(r.Cfg.DataDir), NonceFile),
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

// AttestDrill signs a drill report digest with this node's libp2p
// identity key, so that anyone holding its pinned peer ID can check it.
// The key stays in the host; only the signature leaves.
func (r *Runtime) AttestDrill(signingBytes []byte) (peerID string, sig []byte, err error) {
	if r.Host == nil || r.Host.cfg.Identity == nil {
		return "", nil, fmt.Errorf("node: no identity key to sign with")
	}
	sig, err = r.Host.cfg.Identity.Sign(signingBytes)
	if err != nil {
		return "", nil, fmt.Errorf("node: signing drill report: %w", err)
	}
	return r.Host.ID().String(), sig, nil
}

// UnsealCheck is one key's proof that this node can unseal its shard:
// public data only.
type UnsealCheck struct {
	KeyID     string `json:"key_id"`
	Party     string `json:"party"`
	PublicKey string `json:"public_key"`
	View      string `json:"view"`
	// PendingView is the public view of a pending share an undecided
	// reshare left (ResolveReshare), if any.
	PendingView string `json:"pending_view,omitempty"`
	Error       string `json:"error,omitempty"`
}

// CheckUnseal reads and unseals every share from disk (not from the
// cache), checks it decodes and belongs here, and reports only its public
// key and public view.
func (k *KeyStore) CheckUnseal(ctx context.Context) ([]UnsealCheck, error) {
	ids, err := k.List()
	if err != nil {
		return nil, err
	}
	if err := k.sealer.Health(ctx); err != nil {
		return nil, fmt.Errorf("node: HSM not ready: %w", err)
	}
	var out []UnsealCheck
	for _, id := range k.PendingKeys() {
		if !slices.Contains(ids, id) { // a replacement's first share, undecided
			c := UnsealCheck{KeyID: id}
			if c.PendingView, err = k.pendingView(ctx, id); err != nil {
				c.Error = "pending share: " + err.Error()
			}
			out = append(out, c)
		}
	}
	for _, id := range ids {
		c := UnsealCheck{KeyID: id}
		b, _, err := k.readShare(ctx, id)
		if err != nil {
			c.Error = "unseal failed: " + err.Error()
			out = append(out, c)
			continue
		}
		s, err := tss.UnmarshalShare(b)
		clear(b)
		if err == nil && (s.KeyID != id || s.Self.Node != k.node) {
			err = fmt.Errorf("share file holds %s of %s", s.Self.Node, s.KeyID)
		}
		if err != nil {
			c.Error = err.Error()
			out = append(out, c)
			continue
		}
		pub, _ := s.PublicKey()
		v, _ := s.PublicView()
		c.Party, c.PublicKey, c.View = s.Self.ID, hex.EncodeToString(pub.SerializeCompressed()), hex.EncodeToString(v[:])
		if k.HasPending(id) {
			if c.PendingView, err = k.pendingView(ctx, id); err != nil {
				c.Error = "pending share: " + err.Error()
			}
		}
		out = append(out, c)
	}
	return out, nil
}
