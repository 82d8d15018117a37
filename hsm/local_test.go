package hsm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/hsm/hsmtest"
)

// cheapArgon2 keeps tests fast; production uses hsm.DefaultArgon2.
var cheapArgon2 = hsm.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

func newLocal(t *testing.T, pass string, p hsm.Argon2Params) *hsm.Local {
	t.Helper()
	s, err := hsm.NewLocal([]byte(pass), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLocalConformance(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T) hsm.Sealer {
		s := newLocal(t, "correct horse battery", cheapArgon2)
		if err := s.LoadSaltFile(filepath.Join(t.TempDir(), "salt")); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestLocalRekeySaltFile: the local key is re-keyed through its salt file
// (../shared/SECURITY.md scenario 32). Blobs sealed before salt files existed (epoch
// 0) open until the first re-key is retired; a second sealer reading the
// same salt file follows the re-key; without a salt file re-keying is a
// configuration error, never a silent no-op.
func TestLocalRekeySaltFile(t *testing.T) {
	ctx := context.Background()
	aad := hsm.AAD{Node: "a", KeyID: "k/share", Version: 2}.Encode()
	legacy := newLocal(t, "correct horse battery", cheapArgon2)
	if err := legacy.Rotate(ctx); !errors.Is(err, hsm.ErrConfig) {
		t.Fatalf("Rotate without a salt file: got %v, want ErrConfig", err)
	}
	old, err := legacy.Seal(ctx, []byte("share"), aad)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "salt")
	s := newLocal(t, "correct horse battery", cheapArgon2)
	if err := s.LoadSaltFile(path); err != nil {
		t.Fatal(err)
	}
	if e, err := s.KeyEpoch(ctx); err != nil || e != 0 {
		t.Fatalf("epoch without a salt file = %d, %v", e, err)
	}
	if got, err := s.Unseal(ctx, old, aad); err != nil || string(got) != "share" {
		t.Fatalf("epoch-0 blob: %v", err)
	}
	if err := s.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh, err := s.Rewrap(ctx, old, aad)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Retire(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("salt file: %v %v", st, err)
	}
	other := newLocal(t, "correct horse battery", cheapArgon2)
	if err := other.LoadSaltFile(path); err != nil {
		t.Fatal(err)
	}
	if e, err := other.KeyEpoch(ctx); err != nil || e != 1 {
		t.Fatalf("epoch read back = %d, %v; want 1", e, err)
	}
	if got, err := other.Unseal(ctx, fresh, aad); err != nil || string(got) != "share" {
		t.Fatalf("rewrapped blob through the salt file: %v", err)
	}
	for name, l := range map[string]*hsm.Local{"re-keyed sealer": s, "sealer reading the salt file": other} {
		if _, err := l.Unseal(ctx, old, aad); !errors.Is(err, hsm.ErrAuthFailed) {
			t.Fatalf("%s opened a blob from before the re-key: %v", name, err)
		}
	}
	if err := os.WriteFile(path, []byte(`{"epoch":3,"salts":{"1":"AAAA"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := newLocal(t, "correct horse battery", cheapArgon2).LoadSaltFile(path); !errors.Is(err, hsm.ErrConfig) {
		t.Fatalf("malformed salt file: %v", err)
	}
}

func TestLocalWrongPassphrase(t *testing.T) {
	ctx := context.Background()
	aad := hsm.AAD{Node: "a", KeyID: "k"}.Encode()
	sealed, err := newLocal(t, "correct horse battery", cheapArgon2).Seal(ctx, []byte("shard"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newLocal(t, "correct horse battery!", cheapArgon2).Unseal(ctx, sealed, aad); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("wrong passphrase: got %v, want ErrAuthFailed", err)
	}
}

func TestLocalParamsTravelInBlob(t *testing.T) {
	ctx := context.Background()
	aad := hsm.AAD{Node: "a", KeyID: "k"}.Encode()
	costly := hsm.Argon2Params{Time: 2, MemoryKiB: 256, Threads: 2}
	sealed, err := newLocal(t, "correct horse battery", costly).Seal(ctx, []byte("shard"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint32(sealed[6:10]); got != 2 {
		t.Fatalf("time in header = %d", got)
	}
	got, err := newLocal(t, "correct horse battery", cheapArgon2).Unseal(ctx, sealed, aad)
	if err != nil || string(got) != "shard" {
		t.Fatalf("unseal with other configured params: %v", err)
	}
}

func TestLocalRefusesAbsurdParamsInBlob(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t, "correct horse battery", cheapArgon2)
	aad := hsm.AAD{Node: "a", KeyID: "k"}.Encode()
	sealed, err := s.Seal(ctx, []byte("shard"), aad)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(sealed)
	binary.BigEndian.PutUint32(bad[10:14], 1<<31) // 2 TiB of memory
	if _, err := s.Unseal(ctx, bad, aad); !errors.Is(err, hsm.ErrMalformed) {
		t.Fatalf("absurd memory: got %v, want ErrMalformed (before any allocation)", err)
	}
	bad = bytes.Clone(sealed)
	binary.BigEndian.PutUint32(bad[6:10], 1000)
	if _, err := s.Unseal(ctx, bad, aad); !errors.Is(err, hsm.ErrMalformed) {
		t.Fatalf("absurd time: got %v", err)
	}
}

func TestLocalDefaultsAndShortPassphrase(t *testing.T) {
	// The refusal says how long a passphrase must be (issue 14: the
	// README's example was 9 bytes and the error did not say the rule).
	if _, err := hsm.NewLocal([]byte("change-me"), hsm.Argon2Params{}); !errors.Is(err, hsm.ErrConfig) ||
		!strings.Contains(err.Error(), "at least 12 bytes") {
		t.Fatalf("short passphrase: %v", err)
	}
	if testing.Short() {
		t.Skip("default argon2 cost (64 MiB) skipped in -short")
	}
	s := newLocal(t, "correct horse battery", hsm.Argon2Params{}) // DefaultArgon2
	ctx := context.Background()
	sealed, err := s.Seal(ctx, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Unseal(ctx, sealed, nil); err != nil || string(got) != "x" {
		t.Fatalf("default params roundtrip: %v", err)
	}
}

func TestNewLocalFromConfig(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "pass")
	if err := os.WriteFile(pf, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := hsm.New(ctx, hsm.Config{Backend: hsm.BackendLocal, Local: hsm.LocalConfig{PassphraseFile: pf, Argon2: cheapArgon2}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Setenv("TRIAD_TEST_PASS", "correct horse battery") // same passphrase, trailing newline stripped
	s2, err := hsm.New(ctx, hsm.Config{Backend: hsm.BackendLocal, Local: hsm.LocalConfig{PassphraseEnv: "TRIAD_TEST_PASS", Argon2: cheapArgon2}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	sealed, err := s.Seal(ctx, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Unseal(ctx, sealed, nil); err != nil || string(got) != "x" {
		t.Fatalf("file and env passphrase differ: %v", err)
	}

	if err := os.Chmod(pf, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = hsm.New(ctx, hsm.Config{Backend: hsm.BackendLocal, Local: hsm.LocalConfig{PassphraseFile: pf}})
	if !errors.Is(err, hsm.ErrConfig) || !bytes.Contains([]byte(err.Error()), []byte("hsm.local.passphrase_file")) {
		t.Fatalf("world-readable passphrase file: %v", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte("horse")) {
		t.Fatal("error contains the passphrase")
	}
}
