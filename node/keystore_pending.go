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
// under the AAD of the share it will become (its own generation), and
// renamed over it at commit: a crash leaves either the old share or the
// new one in force, never neither.

// pendingFile is keyID's pending share, bound to the pending generation
// the record names (0, which nothing is sealed under, when it names none).
func (k *KeyStore) pendingFile(keyID string) hsm.SealedFile {
	r, _ := k.generations(keyID)
	f := k.file(keyID, r.Pending)
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
	r, err := k.generations(s.KeyID)
	if err != nil {
		return err
	}
	if !k.Has(s.KeyID) {
		r = genRecord{Share: 1} // a replacement's first share: no share in force
	}
	// The record first: a pending file is never sealed under a generation
	// the record does not name.
	r.Pending = ShareGeneration(s)
	if r.Pending <= r.Share && k.Has(s.KeyID) {
		return fmt.Errorf("node: pending share of %s is of generation %d, not after the %d in force", s.KeyID, r.Pending, r.Share)
	}
	if err := k.writeGenerations(s.KeyID, r); err != nil {
		return err
	}
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
	gen := ShareGeneration(s)
	replaced := k.Has(keyID)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := os.Rename(pf.Path, k.file(keyID, gen).Path); err != nil {
		return false, fmt.Errorf("node: committing share of %s: %w", keyID, err)
	}
	// The rename is the commit: make it durable before anyone is told.
	if err := syncDir(k.dir); err != nil {
		return false, fmt.Errorf("node: committing share of %s: syncing %s: %w", keyID, k.dir, err)
	}
	// Until this is written, readShare finds the share under the pending
	// generation the record still names.
	if err := k.writeGenerations(keyID, genRecord{Share: gen}); err != nil {
		return false, err
	}
	// The old share leaves the cache; sessions already holding it finish
	// with it, new ones load the new share.
	k.cache[keyID] = s
	return replaced, nil
}

// discardPending removes an uncommitted share, then its generation from
// the record.
func (k *KeyStore) discardPending(keyID string) error {
	err := os.Remove(k.pendingFile(keyID).Path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	r, err := k.generations(keyID)
	if err != nil || r.Pending == 0 {
		return err
	}
	if !k.Has(keyID) {
		return removeIfExists(k.genPath(keyID))
	}
	r.Pending = 0
	return k.writeGenerations(keyID, r)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// destroy removes a key's share from disk and memory (the replaced node's
// old share, in tests and drills).
func (k *KeyStore) destroy(keyID string) error {
	k.mu.Lock()
	delete(k.cache, keyID)
	k.mu.Unlock()
	if err := removeIfExists(k.file(keyID, 0).Path); err != nil {
		return err
	}
	return removeIfExists(k.genPath(keyID))
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
