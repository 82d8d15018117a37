package node

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/tss"
)

// A reshare's new share is sealed next to the old one as <key>.pending,
// under the same AAD as the share it will become, and renamed over it at
// commit: a crash leaves either the old share or the new one in force,
// never neither.

func (k *KeyStore) pendingFile(keyID string) hsm.SealedFile {
	f := k.file(keyID, 1)
	f.Path += ".pending"
	return f
}

// savePending seals a reshare's new share without putting it in force.
func (k *KeyStore) savePending(ctx context.Context, s *tss.KeyShare) error {
	if !validName(s.KeyID) || s.Self.Node != k.node {
		return fmt.Errorf("node: pending share %s for %s does not belong here", s.KeyID, s.Self.Node)
	}
	b, err := tss.MarshalShare(s)
	if err != nil {
		return err
	}
	defer clear(b)
	if err := k.pendingFile(s.KeyID).Write(ctx, b); err != nil {
		return fmt.Errorf("node: sealing pending share of %s: %w", s.KeyID, err)
	}
	return nil
}

// HasPending reports whether a reshare left an uncommitted share of keyID.
func (k *KeyStore) HasPending(keyID string) bool {
	_, err := os.Stat(k.pendingFile(keyID).Path)
	return err == nil
}

// commitPending puts the pending share in force, replacing (and so
// destroying) the old one. It reports whether an old share was replaced.
func (k *KeyStore) commitPending(ctx context.Context, keyID string) (bool, error) {
	pf := k.pendingFile(keyID)
	b, err := pf.Read(ctx)
	if err != nil {
		return false, fmt.Errorf("node: unsealing pending share of %s: %w", keyID, err)
	}
	s, err := tss.UnmarshalShare(b)
	clear(b)
	if err != nil {
		return false, err
	}
	replaced := k.Has(keyID)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := os.Rename(pf.Path, k.file(keyID, 1).Path); err != nil {
		return false, fmt.Errorf("node: committing share of %s: %w", keyID, err)
	}
	// The rename is the commit: make it durable before anyone is told.
	if err := syncDir(k.dir); err != nil {
		return false, fmt.Errorf("node: committing share of %s: syncing %s: %w", keyID, k.dir, err)
	}
	// The old share leaves the cache; sessions already holding it finish
	// with it, new ones load the new share.
	k.cache[keyID] = s
	return replaced, nil
}

// discardPending removes an uncommitted share.
func (k *KeyStore) discardPending(keyID string) error {
	err := os.Remove(k.pendingFile(keyID).Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// destroy removes a key's share from disk and memory (the replaced node's
// old share, in tests and drills).
func (k *KeyStore) destroy(keyID string) error {
	k.mu.Lock()
	delete(k.cache, keyID)
	k.mu.Unlock()
	err := os.Remove(k.file(keyID, 1).Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// syncDir flushes a directory's entries (a rename) to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
