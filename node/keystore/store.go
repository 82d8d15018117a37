package keystore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/tss"
)

// ErrNoKey is returned for a key this node holds no share of.
var ErrNoKey = errors.New("node: no share of that key")

// Store keeps this node's key shares sealed on disk, one file per key,
// bound by AAD to this node, its party, the key ID and the share's
// generation (keystore_gen.go). Unsealed shares are
// cached in memory; every use checks the sealer's health first so that a
// node whose HSM is gone fails closed.
type Store struct {
	dir    string
	node   string
	sealer hsm.Sealer

	mu    sync.Mutex
	cache map[string]*tss.KeyShare
}

// New opens (and creates) dir.
func New(dir, node string, sealer hsm.Sealer) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: key store: %w", err)
	}
	if err := removeStaleTemps(dir); err != nil {
		return nil, fmt.Errorf("node: key store: %w", err)
	}
	return &Store{dir: dir, node: node, sealer: sealer, cache: map[string]*tss.KeyShare{}}, nil
}

// Dir is the store's directory (a data dir's keys/).
func (k *Store) Dir() string { return k.dir }

// File is keyID's sealed share file, bound to generation version.
func (k *Store) File(keyID string, version uint32) hsm.SealedFile {
	return hsm.SealedFile{
		Path:   filepath.Join(k.dir, keyID+".share"),
		Sealer: k.sealer,
		AAD:    hsm.AAD{Node: k.node, Party: k.node, KeyID: keyID + "/share", Version: version},
	}
}

// removeStaleTemps deletes what a crash mid-write left in dir: the
// temporary files hsm.WriteFileAtomic names ".<file>.tmp-*". The previous
// shard, if any, is untouched.
func removeStaleTemps(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if name := e.Name(); strings.HasPrefix(name, ".") && e.Type().IsRegular() {
			if _, err := hsm.RemoveStaleTemp(filepath.Join(dir, strings.SplitN(name[1:], ".tmp-", 2)[0])); err != nil {
				return err
			}
		}
	}
	return nil
}

// Has reports whether a share of keyID is on disk.
func (k *Store) Has(keyID string) bool {
	_, err := os.Stat(k.File(keyID, 0).Path)
	return err == nil
}

// Save seals and writes a new share. It refuses to overwrite a key.
func (k *Store) Save(ctx context.Context, s *tss.KeyShare) error {
	if !ValidName(s.KeyID) {
		return fmt.Errorf("node: invalid key id %q", s.KeyID)
	}
	if k.Has(s.KeyID) {
		return fmt.Errorf("node: key %s exists; refusing to overwrite its share", s.KeyID)
	}
	b, err := tss.MarshalShare(s)
	if err != nil {
		return err
	}
	defer clear(b)
	gen := ShareGeneration(s)
	if err := k.writeGenerations(s.KeyID, GenRecord{Share: gen}); err != nil {
		return err
	}
	if err := k.File(s.KeyID, gen).Write(ctx, b); err != nil {
		return fmt.Errorf("node: saving share of %s: %w", s.KeyID, err)
	}
	k.mu.Lock()
	k.cache[s.KeyID] = s
	k.mu.Unlock()
	return nil
}

// Load returns the share of keyID, unsealing it on first use.
func (k *Store) Load(ctx context.Context, keyID string) (*tss.KeyShare, error) {
	if !ValidName(keyID) {
		return nil, fmt.Errorf("%w: invalid key id %q", ErrNoKey, keyID)
	}
	if err := k.sealer.Health(ctx); err != nil {
		return nil, fmt.Errorf("node: HSM not ready, refusing to use key %s: %w", keyID, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if s, ok := k.cache[keyID]; ok {
		return s, nil
	}
	if !k.Has(keyID) {
		return nil, fmt.Errorf("%w: %s", ErrNoKey, keyID)
	}
	b, gen, err := k.readShare(ctx, keyID)
	if err != nil {
		return nil, fmt.Errorf("node: unsealing share of %s: %w", keyID, err)
	}
	defer clear(b)
	s, err := tss.UnmarshalShare(b)
	if err != nil {
		return nil, err
	}
	if s.KeyID != keyID || s.Self.Node != k.node || ShareGeneration(s) != gen {
		return nil, fmt.Errorf("node: share file for %s (generation %d) holds %s of %s", keyID, gen, s.Self.ID, s.KeyID)
	}
	k.cache[keyID] = s
	return s, nil
}

// Use puts s in force in memory, as if unsealed from disk, without
// writing it: for tests of a node that holds another sharing of a key
// than its peers.
func (k *Store) Use(s *tss.KeyShare) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cache[s.KeyID] = s
}

// List returns the IDs of the keys this node holds shares of.
func (k *Store) List() ([]string, error) {
	ents, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, fmt.Errorf("node: listing keys: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".share"); ok && ValidName(id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}
