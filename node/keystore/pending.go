package keystore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/tss"
)

// A reshare's new share is sealed next to the old one as <key>.pending,
// under the AAD of the share it will become (its own generation), and
// renamed over it at commit: a crash leaves either the old share or the
// new one in force, never neither.

// PendingFile is keyID's pending share, bound to the pending generation
// the record names (0, which nothing is sealed under, when it names none).
func (k *Store) PendingFile(keyID string) hsm.SealedFile {
	r, _ := k.Generations(keyID)
	f := k.File(keyID, r.Pending)
	f.Path += ".pending"
	return f
}

// SavePending seals a reshare's new share without putting it in force.
func (k *Store) SavePending(ctx context.Context, s *tss.KeyShare) error {
	if !ValidName(s.KeyID) || s.Self.Node != k.node {
		return fmt.Errorf("node: pending share %s for %s does not belong here", s.KeyID, s.Self.Node)
	}
	b, err := tss.MarshalShare(s)
	if err != nil {
		return err
	}
	defer clear(b)
	r, err := k.Generations(s.KeyID)
	if err != nil {
		return err
	}
	if !k.Has(s.KeyID) {
		r = GenRecord{Share: 1} // a replacement's first share: no share in force
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
	if err := k.PendingFile(s.KeyID).Write(ctx, b); err != nil {
		return fmt.Errorf("node: sealing pending share of %s: %w", s.KeyID, err)
	}
	return nil
}

// HasPending reports whether a reshare left an uncommitted share of keyID.
func (k *Store) HasPending(keyID string) bool {
	_, err := os.Stat(k.PendingFile(keyID).Path)
	return err == nil
}

// CommitPending puts the pending share in force, replacing (and so
// destroying) the old one. It reports whether an old share was replaced.
func (k *Store) CommitPending(ctx context.Context, keyID string) (bool, error) {
	pf := k.PendingFile(keyID)
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
	if err := os.Rename(pf.Path, k.File(keyID, gen).Path); err != nil {
		return false, fmt.Errorf("node: committing share of %s: %w", keyID, err)
	}
	// The rename is the commit: make it durable before anyone is told.
	if err := syncDir(k.dir); err != nil {
		return false, fmt.Errorf("node: committing share of %s: syncing %s: %w", keyID, k.dir, err)
	}
	// Until this is written, readShare finds the share under the pending
	// generation the record still names.
	if err := k.writeGenerations(keyID, GenRecord{Share: gen}); err != nil {
		return false, err
	}
	// The old share leaves the cache; sessions already holding it finish
	// with it, new ones load the new share.
	k.cache[keyID] = s
	return replaced, nil
}

// DiscardPending removes an uncommitted share, then its generation from
// the record.
func (k *Store) DiscardPending(keyID string) error {
	err := os.Remove(k.PendingFile(keyID).Path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	r, err := k.Generations(keyID)
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

// Destroy removes a key's share from disk and memory (the replaced node's
// old share, in tests and drills).
func (k *Store) Destroy(keyID string) error {
	k.mu.Lock()
	delete(k.cache, keyID)
	k.mu.Unlock()
	if err := removeIfExists(k.File(keyID, 0).Path); err != nil {
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

// ErrNoPending: no undecided reshare of that key here.
var ErrNoPending = errors.New("node: no pending share of that key")

// PendingKeys lists the keys with a pending share (an undecided reshare),
// including ones this node holds no share of yet (a replacement node).
func (k *Store) PendingKeys() []string {
	ents, err := os.ReadDir(k.dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".share.pending"); ok && ValidName(id) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// PendingView unseals the pending share of keyID and returns its public view.
func (k *Store) PendingView(ctx context.Context, keyID string) (string, error) {
	if !ValidName(keyID) || !k.HasPending(keyID) {
		return "", fmt.Errorf("%w: %q", ErrNoPending, keyID)
	}
	b, err := k.PendingFile(keyID).Read(ctx)
	if err != nil {
		return "", fmt.Errorf("node: unsealing pending share of %s: %w", keyID, err)
	}
	s, err := tss.UnmarshalShare(b)
	clear(b)
	if err != nil {
		return "", err
	}
	if s.KeyID != keyID || s.Self.Node != k.node {
		return "", fmt.Errorf("node: pending share file for %s holds %s of %s", keyID, s.Self.Node, s.KeyID)
	}
	v, err := s.PublicView()
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(v[:]), nil
}
