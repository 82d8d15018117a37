package recovery

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node/keystore"
)

// BackupFormat names the backup file format.
const BackupFormat = "triad-backup/v1"

// Backup limits: a node's data dir is small (shares, identity, state).
const (
	maxBackupBytes = 256 << 20
	maxFileBytes   = 128 << 20
	maxFiles       = 4096
)

// Backup errors.
var (
	ErrWrongNode = errors.New("recovery: backup belongs to another node")
	ErrWrongKey  = errors.New("recovery: backup does not open with this HSM key")
	ErrNotEmpty  = errors.New("recovery: data dir is not empty")
	ErrBadBackup = errors.New("recovery: not a valid backup")
	// ErrStaleBackup: the backup was sealed before the node's sealing key
	// was last replaced — which every reshare does — so the shares in it
	// are no longer in force (../shared/SECURITY.md scenario 32).
	ErrStaleBackup = errors.New("recovery: backup predates the last reshare")
)

// BackupHeader is the backup's plaintext part. Everything in it is bound
// to the sealed part: changing it makes the backup refuse to open.
type BackupHeader struct {
	Format   string    `json:"format"`
	BackupID string    `json:"backup_id"`
	Party    string    `json:"party"`
	Backend  string    `json:"backend"`
	Created  time.Time `json:"created"`
	Files    []string  `json:"files"`
	// KeyEpoch is the sealing key's epoch (hsm.Rekeyer.KeyEpoch) when the
	// backup was made, nil in backups made before epochs were recorded;
	// Generations the generation of each share in it. Both are left out
	// of the JSON when empty, so older backups still authenticate.
	KeyEpoch    *int              `json:"key_epoch,omitempty"`
	Generations map[string]uint32 `json:"generations,omitempty"`
	// SealedKey is the bundle's data key, sealed by the node's HSM under
	// AAD {party, party, "backup/"+BackupID}.
	SealedKey []byte `json:"sealed_key"`
	Nonce     []byte `json:"nonce"`
}

// backupFile is the on-disk form: header plus ciphertext.
type backupFile struct {
	Header     BackupHeader `json:"header"`
	Ciphertext []byte       `json:"ciphertext"`
}

func backupAAD(party, id string) hsm.AAD {
	return hsm.AAD{Node: party, Party: party, KeyID: "backup/" + id, Version: 1}
}

func (h BackupHeader) bound() []byte {
	h.SealedKey, h.Nonce = nil, nil
	h.Created = h.Created.UTC()
	b, _ := json.Marshal(h)
	return b
}

// CreateBackup bundles every regular file of dataDir (party's node) and
// seals it. Stop the node first, or the state database may be mid-write.
// The result holds no plaintext secret: sealed files stay sealed, and the
// bundle itself is encrypted under a key only the node's HSM can unseal.
func CreateBackup(ctx context.Context, dataDir, party string, s hsm.Sealer, now time.Time) ([]byte, *BackupHeader, error) {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	var names []string
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") || strings.Contains(d.Name(), ".tmp") {
			return nil
		}
		rel, err := filepath.Rel(dataDir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxFileBytes || len(names) >= maxFiles {
			return fmt.Errorf("recovery: %s is too large to back up", rel)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		defer clear(b)
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: int64(info.Mode().Perm()), Size: int64(len(b)), ModTime: info.ModTime()}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("recovery: reading %s: %w", dataDir, err)
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("recovery: %s holds nothing to back up", dataDir)
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	plain := tarBuf.Bytes()
	defer clear(plain)
	id := make([]byte, 8)
	dek := make([]byte, 32)
	nonce := make([]byte, 12)
	for _, b := range [][]byte{id, dek, nonce} {
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
	}
	defer clear(dek)
	epoch, err := keyEpoch(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	gens, err := keystore.ShareGenerations(keystore.DataDir{Path: dataDir}.Keys())
	if err != nil {
		return nil, nil, fmt.Errorf("recovery: reading share generations: %w", err)
	}
	h := BackupHeader{Format: BackupFormat, BackupID: hex.EncodeToString(id), Party: party, Backend: s.Backend(),
		Created: now.UTC().Truncate(time.Second), Files: names, KeyEpoch: &epoch, Generations: gens, Nonce: nonce}
	if h.SealedKey, err = s.Seal(ctx, dek, backupAAD(party, h.BackupID).Encode()); err != nil {
		return nil, nil, fmt.Errorf("recovery: sealing the backup key: %w", err)
	}
	aead, err := gcm(dek)
	if err != nil {
		return nil, nil, err
	}
	out, err := json.Marshal(backupFile{Header: h, Ciphertext: aead.Seal(nil, nonce, plain, h.bound())})
	if err != nil {
		return nil, nil, err
	}
	return out, &h, nil
}

// keyEpoch is s's key epoch, 0 for a sealer that cannot re-key.
func keyEpoch(ctx context.Context, s hsm.Sealer) (int, error) {
	r, ok := s.(hsm.Rekeyer)
	if !ok {
		return 0, nil
	}
	e, err := r.KeyEpoch(ctx)
	if err != nil {
		return 0, fmt.Errorf("recovery: HSM not ready: %w", err)
	}
	return e, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// InspectBackup returns a backup's header without opening it.
func InspectBackup(b []byte) (*BackupHeader, error) {
	f, err := decodeBackup(b)
	if err != nil {
		return nil, err
	}
	return &f.Header, nil
}

func decodeBackup(b []byte) (*backupFile, error) {
	if len(b) > maxBackupBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadBackup, len(b))
	}
	var f backupFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	if f.Header.Format != BackupFormat || len(f.Header.Nonce) != 12 || len(f.Header.SealedKey) == 0 {
		return nil, fmt.Errorf("%w: format %q", ErrBadBackup, f.Header.Format)
	}
	return &f, nil
}

// RestoreBackup opens a backup of party's node with s and writes its files
// into dataDir, which must be empty or absent. It refuses a backup of
// another node (ErrWrongNode), one sealed under another HSM key
// (ErrWrongKey), and one made before the sealing key was last replaced
// (ErrStaleBackup: every reshare re-keys, so its shares are no longer in
// force), and writes nothing in any of these cases.
func RestoreBackup(ctx context.Context, b []byte, dataDir, party string, s hsm.Sealer) (*BackupHeader, error) {
	f, err := decodeBackup(b)
	if err != nil {
		return nil, err
	}
	h := f.Header
	if h.Party != party {
		return nil, fmt.Errorf("%w: it is %s's backup, this node is %s", ErrWrongNode, h.Party, party)
	}
	if ents, err := os.ReadDir(dataDir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%w: %s; restore only into an empty directory", ErrNotEmpty, dataDir)
	}
	// The epoch in the header is bound to the sealed part: raising or
	// removing it makes the backup fail to open below. (A backup from
	// before epochs were recorded has none; if its key was retired, its
	// data key does not unseal.)
	epoch, err := keyEpoch(ctx, s)
	if err != nil {
		return nil, err
	}
	if h.KeyEpoch != nil && *h.KeyEpoch < epoch {
		return nil, fmt.Errorf("%w: backup %s was sealed under key epoch %d of %s's HSM key, which has been replaced since (epoch %d), as every reshare does: "+
			"the shares in it are no longer in force; restore a backup made after the last reshare, or have the other two nodes reshare to this one",
			ErrStaleBackup, h.BackupID, *h.KeyEpoch, party, epoch)
	}
	dek, err := s.Unseal(ctx, h.SealedKey, backupAAD(party, h.BackupID).Encode())
	if err != nil {
		if herr := s.Health(ctx); herr != nil {
			return nil, fmt.Errorf("recovery: HSM not ready: %w", herr)
		}
		return nil, fmt.Errorf("%w (sealed by a %s backend for %s): %v", ErrWrongKey, h.Backend, h.Party, err)
	}
	defer clear(dek)
	aead, err := gcm(dek)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, h.Nonce, f.Ciphertext, h.bound())
	if err != nil {
		return nil, fmt.Errorf("%w: contents or header altered", ErrBadBackup)
	}
	defer clear(plain)
	files, err := untar(plain)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	for _, fl := range files {
		dst := filepath.Join(dataDir, filepath.FromSlash(fl.name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return nil, fmt.Errorf("recovery: %w", err)
		}
		if err := hsm.WriteFileAtomic(dst, fl.data, fl.mode); err != nil {
			return nil, fmt.Errorf("recovery: restoring %s: %w", fl.name, err)
		}
	}
	return &h, nil
}

type tarFile struct {
	name string
	mode os.FileMode
	data []byte
}

func untar(b []byte) ([]tarFile, error) {
	tr := tar.NewReader(bytes.NewReader(b))
	var out []tarFile
	for {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadBackup, err)
		}
		name := filepath.ToSlash(filepath.Clean(hd.Name))
		if hd.Typeflag != tar.TypeReg || name == "." || strings.HasPrefix(name, "../") || filepath.IsAbs(name) ||
			hd.Size > maxFileBytes || len(out) >= maxFiles {
			return nil, fmt.Errorf("%w: entry %q", ErrBadBackup, hd.Name)
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxFileBytes))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadBackup, err)
		}
		mode := os.FileMode(hd.Mode).Perm() & 0o644
		if mode == 0 {
			mode = 0o600
		}
		out = append(out, tarFile{name: name, mode: mode, data: data})
	}
}
