package keystore

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/triad-custody/triad/tss"
)

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
func (k *Store) CheckUnseal(ctx context.Context) ([]UnsealCheck, error) {
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
			if c.PendingView, err = k.PendingView(ctx, id); err != nil {
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
			if c.PendingView, err = k.PendingView(ctx, id); err != nil {
				c.Error = "pending share: " + err.Error()
			}
		}
		out = append(out, c)
	}
	return out, nil
}
