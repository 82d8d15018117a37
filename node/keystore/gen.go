package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/tss"
)

// Share generations (../shared/SECURITY.md scenarios 15, 16, 32). A share's
// generation is the n of its participant ID "party#n": 1 after keygen, +1
// at every reshare. It is the Version of the share file's AAD, so a share
// file from another generation — one kept from before a reshare, or taken
// from a backup — does not unseal in its place. keys/<id>.gen records the
// generation of the share in force and of the pending one; altering it only
// makes the files fail to unseal.
//
// The reshare commit renames the pending share over the old one and then
// records its generation. A crash between the two leaves the record one
// step behind: the share file then unseals under the pending generation the
// record names, and Load brings the record up to date.

// GenRecord is keys/<id>.gen: the generation of the share in force and of
// a pending one.
type GenRecord struct {
	Share   uint32 `json:"share"`
	Pending uint32 `json:"pending,omitempty"`
}

// ShareGeneration is the generation of a share: the n of "party#n", 1
// for a bare party name (keygen).
func ShareGeneration(s *tss.KeyShare) uint32 {
	return uint32(GenerationOf(s.Self.ID))
}

// GenerationOf parses a participant ID "party#n"; a bare party name is
// generation 1.
func GenerationOf(id string) int {
	if i := strings.LastIndexByte(id, '#'); i >= 0 {
		if g, err := strconv.Atoi(id[i+1:]); err == nil && g > 0 {
			return g
		}
	}
	return 1
}

func (k *Store) genPath(keyID string) string { return filepath.Join(k.dir, keyID+".gen") }

// Generations reads keyID's record; a key without one is at generation 1
// (keygen, or shares sealed before records existed).
func (k *Store) Generations(keyID string) (GenRecord, error) {
	b, err := os.ReadFile(k.genPath(keyID))
	if errors.Is(err, os.ErrNotExist) {
		return GenRecord{Share: 1}, nil
	}
	if err != nil {
		return GenRecord{}, fmt.Errorf("node: reading the share generation of %s: %w", keyID, err)
	}
	var r GenRecord
	if len(b) > 256 || json.Unmarshal(b, &r) != nil || r.Share == 0 {
		return GenRecord{}, fmt.Errorf("node: %s is not a share generation record", k.genPath(keyID))
	}
	return r, nil
}

func (k *Store) writeGenerations(keyID string, r GenRecord) error {
	b, _ := json.Marshal(r)
	if err := hsm.WriteFileAtomic(k.genPath(keyID), b, 0o600); err != nil {
		return fmt.Errorf("node: recording the share generation of %s: %w", keyID, err)
	}
	return nil
}

// Generation returns the generation of keyID's share in force.
func (k *Store) Generation(keyID string) (uint32, error) {
	if !ValidName(keyID) {
		return 0, fmt.Errorf("%w: invalid key id %q", ErrNoKey, keyID)
	}
	r, err := k.Generations(keyID)
	return r.Share, err
}

// readShare unseals keyID's share file under its recorded generation or,
// after a commit interrupted before its record was written, under the
// pending generation the record names. It returns the plaintext and the
// generation it unsealed under.
func (k *Store) readShare(ctx context.Context, keyID string) ([]byte, uint32, error) {
	r, err := k.Generations(keyID)
	if err != nil {
		return nil, 0, err
	}
	b, err := k.File(keyID, r.Share).Read(ctx)
	if err == nil || !errors.Is(err, hsm.ErrAuthFailed) || r.Pending == 0 || k.HasPending(keyID) {
		return b, r.Share, err
	}
	b, err2 := k.File(keyID, r.Pending).Read(ctx)
	if err2 != nil {
		return nil, 0, err // the first failure is the one to report
	}
	if werr := k.writeGenerations(keyID, GenRecord{Share: r.Pending}); werr != nil {
		clear(b)
		return nil, 0, werr
	}
	return b, r.Pending, nil
}

// ErrNoRekey: the sealer cannot replace its key (hsm.Rekeyer).
var ErrNoRekey = errors.New("node: the sealer cannot re-key")

// Rekey replaces the sealing key after a reshare, so that what was sealed
// before it — a backup, the old share on a lost disk — no longer unseals
// (../shared/SECURITY.md scenario 32): Rotate, rewrap every sealed file this store
// knows (its shares and, when it is a data dir's keys/, the data dir's
// identity and pre-params), then Retire the old key. A failure before
// Retire leaves every file openable (../shared/SECURITY.md scenario 16) and the old key live; it
// is returned, and running Rekey again finishes the job.
func (k *Store) Rekey(ctx context.Context) error {
	r, ok := k.sealer.(hsm.Rekeyer)
	if !ok {
		return fmt.Errorf("%w: the %s backend has no re-key operation", ErrNoRekey, k.sealer.Backend())
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := r.Rotate(ctx); err != nil {
		return fmt.Errorf("node: re-keying: %w", err)
	}
	files, err := k.dataDirSealed()
	if err != nil {
		return fmt.Errorf("node: re-keying: %w", err)
	}
	var errs []error
	for _, f := range files {
		if res := rewrapOne(ctx, f, r, nil); res.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Rel, res.Err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("node: re-keying: old key kept until every file is rewrapped: %w", err)
	}
	if err := r.Retire(ctx); err != nil {
		return fmt.Errorf("node: re-keying: retiring the old key: %w", err)
	}
	return nil
}

// dataDirSealed lists the sealed files Rekey rewraps.
func (k *Store) dataDirSealed() ([]SealedEntry, error) {
	if filepath.Base(k.dir) == KeysDir {
		return SealedFiles(DataDir{Path: filepath.Dir(k.dir), Party: k.node}, k.sealer)
	}
	return k.sealedEntries(k.dir)
}

// ShareGenerations returns the generation of every share in force in the
// keys dir dir (a data dir's keys/), without unsealing anything.
func ShareGenerations(dir string) (map[string]uint32, error) {
	k := &Store{dir: dir}
	ids, err := k.List()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	out := map[string]uint32{}
	for _, id := range ids {
		if out[id], err = k.Generation(id); err != nil {
			return nil, err
		}
	}
	return out, nil
}
