package hsm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/triad-custody/triad/internal/securefile"
)

// The local backend re-keys through its salt file (hsm.local.salt_file):
// a random 32-byte salt per key epoch, mixed into every blob's argon2id
// salt. Rotate adds a salt, Retire forgets all but the newest, so a blob
// sealed before the last re-key no longer derives its key even with the
// passphrase. With no salt file (epoch 0) the key is the passphrase's
// alone, as before salt files existed; the first Rotate starts epoch 1.
//
// Keep the salt file outside the data dir, next to the passphrase file: a
// backup of the data dir must not carry the salt that opens it.

const localEpochSaltLen = 32

// localSalts is the salt file: the current epoch and every live epoch's
// salt (the current one, and the previous one between Rotate and Retire).
type localSalts struct {
	Epoch int            `json:"epoch"`
	Salts map[int][]byte `json:"salts"`
}

// LoadSaltFile makes l derive its key from the passphrase and the salts in
// path, and re-key (Rotate/Retire) by rewriting path. A missing file is
// epoch 0 (the passphrase alone) and is created by the first Rotate.
func (l *Local) LoadSaltFile(path string) error {
	st := localSalts{Salts: map[int][]byte{0: nil}}
	_, statErr := os.Stat(path)
	b, err := securefile.Read("hsm.local.salt_file", path, 64<<10, true)
	switch {
	case errors.Is(statErr, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("%w: %w", ErrConfig, err)
	default:
		st = localSalts{}
		if err := json.Unmarshal(b, &st); err != nil || st.Salts == nil || st.Epoch < 0 {
			return fmt.Errorf("%w: hsm.local.salt_file: %s is not a salt file", ErrConfig, path)
		}
		for e, s := range st.Salts {
			if e > st.Epoch || e < 0 || (e > 0 && len(s) != localEpochSaltLen) {
				return fmt.Errorf("%w: hsm.local.salt_file: %s holds a malformed salt", ErrConfig, path)
			}
		}
		if _, ok := st.Salts[st.Epoch]; !ok {
			return fmt.Errorf("%w: hsm.local.salt_file: %s lacks the salt of its epoch %d", ErrConfig, path, st.Epoch)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.saltFile, l.salts = path, st
	return nil
}

// liveSalts returns the epoch salts to try, newest first. Without a salt
// file it is the one empty salt of epoch 0.
func (l *Local) liveSalts() [][]byte {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.salts.Salts == nil {
		return [][]byte{nil}
	}
	epochs := make([]int, 0, len(l.salts.Salts))
	for e := range l.salts.Salts {
		epochs = append(epochs, e)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(epochs)))
	out := make([][]byte, len(epochs))
	for i, e := range epochs {
		out[i] = l.salts.Salts[e]
	}
	return out
}

func (l *Local) writeSalts(st localSalts) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	defer clear(b)
	if err := WriteFileAtomic(l.saltFile, b, 0o600); err != nil {
		return fmt.Errorf("%w: writing the salt file: %w", ErrBackend, err)
	}
	l.salts = st
	return nil
}

func (l *Local) rekeyable(op string) error {
	if l.pass == nil {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	if l.saltFile == "" {
		return fmt.Errorf("%s: %w: hsm.local.salt_file is not set, so the local key cannot be replaced", op, ErrConfig)
	}
	return nil
}

// Rotate implements Rekeyer: a fresh salt becomes the current epoch's; the
// previous epoch's salt is kept until Retire.
func (l *Local) Rotate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hsm: rotating: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.rekeyable("rotating"); err != nil {
		return err
	}
	salt := make([]byte, localEpochSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("hsm: rotating: %w", err)
	}
	next := localSalts{Epoch: l.salts.Epoch + 1, Salts: map[int][]byte{}}
	for e, s := range l.salts.Salts {
		next.Salts[e] = s
	}
	next.Salts[next.Epoch] = salt
	return l.writeSalts(next)
}

// Retire implements Rekeyer: every salt but the current epoch's is
// forgotten.
func (l *Local) Retire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hsm: retiring old keys: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.rekeyable("retiring old keys"); err != nil {
		return err
	}
	if len(l.salts.Salts) == 1 {
		return nil
	}
	return l.writeSalts(localSalts{Epoch: l.salts.Epoch, Salts: map[int][]byte{l.salts.Epoch: l.salts.Salts[l.salts.Epoch]}})
}

// KeyEpoch implements Rekeyer: 0 until the first Rotate.
func (l *Local) KeyEpoch(ctx context.Context) (int, error) {
	if err := l.Health(ctx); err != nil {
		return 0, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.salts.Epoch, nil
}

// Rewrap implements Rewrapper: unseal, then seal under the current salt.
// The plaintext exists only in this process, as with Seal and Unseal.
func (l *Local) Rewrap(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	pt, err := l.Unseal(ctx, sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("rewrapping: %w", err)
	}
	defer zero(pt)
	return l.Seal(ctx, pt, aad)
}
