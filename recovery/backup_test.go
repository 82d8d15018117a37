package recovery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// nodeDir builds a custodian data dir: sealed identity, sealed share, state.
func nodeDir(t *testing.T, s hsm.Sealer) string {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "custodian")
	if _, err := node.Init(ctx, &node.Config{Party: "custodian", DataDir: dir}, s); err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.New(filepath.Join(dir, "keys"), "custodian", s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := fixtures.Share("custodian")
	share, err := tss.UnmarshalShare(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Save(ctx, share); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "custody.db"), []byte("state"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	s := hsm.NewMemory()
	dir := nodeDir(t, s)
	b, h, err := CreateBackup(ctx, dir, "custodian", s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Files) != 5 { // with keys/fixture.gen, the share generation record
		t.Fatalf("backed up %v", h.Files)
	}
	// The backup holds no plaintext: the share's secret encoding and the
	// state file's bytes do not appear in it.
	share, _ := fixtures.Share("custodian")
	var probe struct {
		Data struct {
			Xi json.Number
		}
	}
	json.Unmarshal(share, &probe)
	if bytes.Contains(b, []byte(probe.Data.Xi.String())) || bytes.Contains(b, []byte("state")) {
		t.Fatal("backup contains plaintext")
	}
	// Restore on "another machine": a new, empty dir, the same HSM key.
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := RestoreBackup(ctx, b, dst, "custodian", s); err != nil {
		t.Fatal(err)
	}
	ks, _ := keystore.New(filepath.Join(dst, "keys"), "custodian", s)
	got, err := ks.Load(ctx, fixtures.KeyID)
	if err != nil {
		t.Fatalf("restored share: %v", err)
	}
	if got.Self.Node != "custodian" {
		t.Fatal("restored the wrong share")
	}
	id := hsm.SealedFile{Path: filepath.Join(dst, "identity.sealed"), Sealer: s, AAD: hsm.AAD{Node: "custodian", Party: "custodian", KeyID: "libp2p-identity", Version: 1}}
	if _, err := id.Read(ctx); err != nil {
		t.Fatalf("restored identity: %v", err)
	}
	for _, f := range []string{"peer.id", "custody.db"} {
		a, _ := os.ReadFile(filepath.Join(dir, f))
		c, _ := os.ReadFile(filepath.Join(dst, f))
		if !bytes.Equal(a, c) {
			t.Fatalf("%s differs after restore", f)
		}
	}
	// Not over an existing node.
	if _, err := RestoreBackup(ctx, b, dst, "custodian", s); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore over a data dir: %v", err)
	}
}

func TestRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	s := hsm.NewMemory()
	b, _, err := CreateBackup(ctx, nodeDir(t, s), "custodian", s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	empty := func() string { return filepath.Join(t.TempDir(), "new") }
	if _, err := RestoreBackup(ctx, b, empty(), "custodian", hsm.NewMemory()); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong HSM key: %v", err)
	}
	if _, err := RestoreBackup(ctx, b, empty(), "exchange", s); !errors.Is(err, ErrWrongNode) {
		t.Fatalf("wrong node: %v", err)
	}
	// Relabelling the header to the other node does not help: the sealed
	// key is bound to the party it was made for.
	var f backupFile
	json.Unmarshal(b, &f)
	f.Header.Party = "exchange"
	relabelled, _ := json.Marshal(f)
	if _, err := RestoreBackup(ctx, relabelled, empty(), "exchange", s); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("relabelled backup: %v", err)
	}
	json.Unmarshal(b, &f)
	f.Ciphertext[len(f.Ciphertext)/2] ^= 1
	flipped, _ := json.Marshal(f)
	dst := empty()
	if _, err := RestoreBackup(ctx, flipped, dst, "custodian", s); !errors.Is(err, ErrBadBackup) {
		t.Fatalf("altered backup: %v", err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Fatal("a refused restore wrote files")
	}
	if _, err := RestoreBackup(ctx, []byte("{}"), empty(), "custodian", s); !errors.Is(err, ErrBadBackup) {
		t.Fatalf("garbage: %v", err)
	}
}

// TestRestoreRefusesBackupFromBeforeReshare (../shared/SECURITY.md scenarios 15, 32):
// a reshare re-keys the node's sealer (keystore.Store.Rekey, run at every
// reshare commit). A backup made before it is refused by restore, with
// ErrStaleBackup and nothing written, even when its epoch is forged
// upwards; its sealed share does not open under the new key either. A
// backup made after the re-key restores, and its share unseals.
func TestRestoreRefusesBackupFromBeforeReshare(t *testing.T) {
	ctx := context.Background()
	s := hsm.NewMemory()
	dir := nodeDir(t, s)
	before, h, err := CreateBackup(ctx, dir, "custodian", s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if h.KeyEpoch == nil || *h.KeyEpoch != 1 || h.Generations[fixtures.KeyID] != 1 {
		t.Fatalf("header: epoch %v, generations %v", h.KeyEpoch, h.Generations)
	}
	ks, err := keystore.New(filepath.Join(dir, "keys"), "custodian", s)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Rekey(ctx); err != nil {
		t.Fatal(err)
	}
	empty := func() string { return filepath.Join(t.TempDir(), "new") }
	dst := empty()
	if _, err := RestoreBackup(ctx, before, dst, "custodian", s); !errors.Is(err, ErrStaleBackup) ||
		!strings.Contains(err.Error(), "epoch 1") || !strings.Contains(err.Error(), "epoch 2") {
		t.Fatalf("backup from before the re-key: %v", err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Fatal("a refused restore wrote files")
	}
	// Forging the header's epoch does not open it: the sealed data key
	// is under the retired key.
	var f backupFile
	json.Unmarshal(before, &f)
	for name, epoch := range map[string]*int{"a forged epoch": new(int), "no epoch": nil} {
		if epoch != nil {
			*epoch = 2
		}
		f.Header.KeyEpoch = epoch
		forged, _ := json.Marshal(f)
		if _, err := RestoreBackup(ctx, forged, empty(), "custodian", s); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("backup with %s: %v", name, err)
		}
	}
	// The live data dir was rewrapped and still works; a backup of it
	// restores.
	if _, err := ks.Load(ctx, fixtures.KeyID); err != nil {
		t.Fatalf("share after the re-key: %v", err)
	}
	after, h2, err := CreateBackup(ctx, dir, "custodian", s, time.Now())
	if err != nil || *h2.KeyEpoch != 2 {
		t.Fatalf("backup after the re-key: epoch %v, %v", h2, err)
	}
	dst = empty()
	if _, err := RestoreBackup(ctx, after, dst, "custodian", s); err != nil {
		t.Fatal(err)
	}
	rks, _ := keystore.New(filepath.Join(dst, "keys"), "custodian", s)
	if _, err := rks.Load(ctx, fixtures.KeyID); err != nil {
		t.Fatalf("share restored from a backup after the re-key: %v", err)
	}
}

// A backup made before key epochs were recorded (no key_epoch, no
// generations in its header) still restores while its key is live.
func TestRestoreBackupWithoutEpoch(t *testing.T) {
	ctx := context.Background()
	s := hsm.NewMemory()
	b, _, err := CreateBackup(ctx, nodeDir(t, s), "custodian", s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var f backupFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	dek, err := s.Unseal(ctx, f.Header.SealedKey, backupAAD("custodian", f.Header.BackupID).Encode())
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := gcm(dek)
	plain, err := aead.Open(nil, f.Header.Nonce, f.Ciphertext, f.Header.bound())
	if err != nil {
		t.Fatal(err)
	}
	f.Header.KeyEpoch, f.Header.Generations = nil, nil
	if bytes.Contains(f.Header.bound(), []byte("key_epoch")) {
		t.Fatal("an empty epoch is still in the bound header")
	}
	f.Ciphertext = aead.Seal(nil, f.Header.Nonce, plain, f.Header.bound())
	legacy, _ := json.Marshal(f)
	if _, err := RestoreBackup(ctx, legacy, filepath.Join(t.TempDir(), "new"), "custodian", s); err != nil {
		t.Fatalf("backup without an epoch: %v", err)
	}
}
