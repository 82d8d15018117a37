package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/hsm/softhsmtest"
	"github.com/triad-custody/triad/hsm/vaulttest"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/nodetest"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tamper flips one bit of the ciphertext proper: inside the Transit
// ciphertext's base64 for vault-transit blobs, else near the end (tag).
func tamper(t testing.TB, b []byte) []byte {
	t.Helper()
	out := append([]byte(nil), b...)
	if i := bytes.Index(out, []byte("vault:v")); i >= 0 {
		j := i + bytes.LastIndexByte(out[i:], ':') + 1
		raw, err := base64.StdEncoding.DecodeString(string(out[j:]))
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)/2] ^= 0x01
		return append(out[:j], base64.StdEncoding.EncodeToString(raw)...)
	}
	out[len(out)-8] ^= 0x01
	return out
}

// A shard is bound to its node and key slot on every real backend: copied
// to another node (sharing the same HSM key) or another key ID it does not
// unseal, nor does a tampered one; the original still does.
func TestShardBoundToNodeAndSlot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	backends := realBackends(ctx)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			defer s.Close()
			root := t.TempDir()
			open := func(party, sub string) *keystore.Store {
				ks, err := keystore.New(filepath.Join(root, sub, "keys"), party, s)
				if err != nil {
					t.Fatal(err)
				}
				return ks
			}
			a := open("custodian", "a")
			if err := a.Save(ctx, nodetest.Share(t, "custodian")); err != nil {
				t.Fatal(err)
			}
			src := a.File(fixtures.KeyID, 1).Path

			other := open("exchange", "b")
			copyFile(t, src, other.File(fixtures.KeyID, 1).Path)
			if _, err := other.Load(ctx, fixtures.KeyID); !errors.Is(err, hsm.ErrAuthFailed) {
				t.Fatalf("custodian's shard unsealed as the exchange's: %v", err)
			}
			copyFile(t, src, a.File("other-key", 1).Path)
			if _, err := a.Load(ctx, "other-key"); !errors.Is(err, hsm.ErrAuthFailed) {
				t.Fatalf("shard unsealed in another key slot: %v", err)
			}
			sealed, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			c := open("custodian", "c")
			if err := os.WriteFile(c.File(fixtures.KeyID, 1).Path, tamper(t, sealed), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Load(ctx, fixtures.KeyID); !errors.Is(err, hsm.ErrAuthFailed) {
				t.Fatalf("tampered shard: %v", err)
			}
			fresh := open("custodian", "a") // no cache: unseals from disk
			if _, err := fresh.Load(ctx, fixtures.KeyID); err != nil {
				t.Fatalf("original shard: %v", err)
			}
		})
	}
}

// A node that crashed while writing a new shard, or whose new blob did not
// verify, still opens the previous shard after a restart.
func TestCrashWhileWritingShardKeepsPrevious(t *testing.T) {
	ctx := context.Background()
	s := hsm.NewMemory()
	dir := t.TempDir()
	ks, err := keystore.New(dir, "custodian", s)
	if err != nil {
		t.Fatal(err)
	}
	want := nodetest.Share(t, "custodian")
	if err := ks.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	f := ks.File(fixtures.KeyID, 1)
	good, err := os.ReadFile(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	// Killed mid-write: WriteFileAtomic's temp file is torn; the shard
	// itself was never opened for writing.
	torn := filepath.Join(dir, "."+filepath.Base(f.Path)+".tmp-crashed")
	if err := os.WriteFile(torn, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	// A replacement whose blob does not verify is never put in place.
	s.SetFailUnseal(true)
	if err := f.Write(ctx, []byte("replacement share")); err == nil {
		t.Fatal("write with a failing verification succeeded")
	}
	s.SetFailUnseal(false)
	if now, _ := os.ReadFile(f.Path); !bytes.Equal(now, good) {
		t.Fatal("the previous shard was modified")
	}
	// Restart: a fresh key store unseals the previous shard.
	ks2, err := keystore.New(dir, "custodian", s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ks2.Load(ctx, fixtures.KeyID)
	if err != nil {
		t.Fatalf("previous shard after the crash: %v", err)
	}
	gp, _ := got.PublicKey()
	wp, _ := want.PublicKey()
	if !gp.IsEqual(wp) || got.Data.Xi.Cmp(want.Data.Xi) != 0 {
		t.Fatal("the previous shard changed")
	}
	if ids, _ := ks2.List(); len(ids) != 1 || ids[0] != fixtures.KeyID {
		t.Fatalf("keys after the crash: %v", ids)
	}
}

// memRewrapper rewraps by unsealing and sealing again (tests only).
type memRewrapper struct{ *hsm.Memory }

func (m memRewrapper) Rewrap(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	pt, err := m.Unseal(ctx, sealed, aad)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return m.Seal(ctx, pt, aad)
}

// keystore.SealedFiles finds every sealed file with the AAD it was written under
// (each one unseals through its entry), and keystore.RewrapSealed replaces each.
func TestSealedFilesAndRewrap(t *testing.T) {
	ctx := context.Background()
	s := memRewrapper{hsm.NewMemory()}
	c := &Config{Party: "exchange", DataDir: t.TempDir()}
	if got, err := keystore.SealedFiles(c.SealedDir(), s); err != nil || len(got) != 0 {
		t.Fatalf("empty data dir: %v %v", got, err)
	}
	if _, err := Init(ctx, c, s); err != nil {
		t.Fatal(err)
	}
	list, err := fixtures.PreParamsList(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := SeedPreParams(ctx, c, s, list); err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.New(c.dataPath(keystore.KeysDir), c.Party, s)
	if err != nil {
		t.Fatal(err)
	}
	share := nodetest.Share(t, "exchange")
	if err := ks.Save(ctx, share); err != nil {
		t.Fatal(err)
	}
	if err := ks.SavePending(ctx, nextGeneration(t, share)); err != nil {
		t.Fatal(err)
	}
	files, err := keystore.SealedFiles(c.SealedDir(), s)
	if err != nil {
		t.Fatal(err)
	}
	wantKinds := []string{keystore.SealedIdentity, keystore.SealedPreParams, keystore.SealedShare, keystore.SealedPending}
	if len(files) != len(wantKinds) {
		t.Fatalf("got %d sealed files, want %d: %+v", len(files), len(wantKinds), files)
	}
	before := map[string][]byte{}
	for i, f := range files {
		if f.Kind != wantKinds[i] {
			t.Fatalf("file %d (%s) is a %s, want %s", i, f.Rel, f.Kind, wantKinds[i])
		}
		pt, err := f.Read(ctx)
		if err != nil {
			t.Fatalf("%s does not unseal under its listed AAD: %v", f.Rel, err)
		}
		clear(pt)
		before[f.Path], _ = os.ReadFile(f.Path)
	}
	var reported int
	results, err := keystore.RewrapSealed(ctx, c.SealedDir(), s, func(keystore.RewrapResult) { reported++ })
	if err != nil || len(results) != len(files) || reported != len(files) {
		t.Fatalf("rewrap: %d results, %d reported: %v", len(results), reported, err)
	}
	for _, f := range files {
		now, _ := os.ReadFile(f.Path)
		if bytes.Equal(now, before[f.Path]) {
			t.Fatalf("%s was not rewritten", f.Rel)
		}
		pt, err := f.Read(ctx)
		if err != nil {
			t.Fatalf("%s after rewrap: %v", f.Rel, err)
		}
		clear(pt)
	}
	// A blob sealed under another key is reported, not replaced.
	other := hsm.NewMemory()
	moved := keystore.SealedEntry{SealedFile: hsm.SealedFile{Path: files[0].Path, Sealer: other, AAD: files[0].AAD}}
	if err := moved.Write(ctx, []byte("identity from elsewhere")); err != nil {
		t.Fatal(err)
	}
	if _, err := keystore.RewrapSealed(ctx, c.SealedDir(), s, nil); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("rewrap of a blob sealed under another key: %v", err)
	}
}

// A crash mid-write leaves a temporary file next to the shard; reopening
// the key store removes it and the previous shard still loads.
func TestKeyStoreRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	s := hsm.NewMemory()
	ks, err := keystore.New(dir, "custodian", s)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := fixtures.Share("custodian")
	share, err := tss.UnmarshalShare(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Save(context.Background(), share); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, ".fixture.share.tmp-123")
	if err := os.WriteFile(stale, []byte("half a shard"), 0o600); err != nil {
		t.Fatal(err)
	}
	ks2, err := keystore.New(dir, "custodian", s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temp file left: %v", err)
	}
	if _, err := ks2.Load(context.Background(), "fixture"); err != nil {
		t.Fatal(err)
	}
}

// nextGeneration is s relabelled as a reshare's next committee would be
// ("<party>#<n+1>"): a share of the next generation.
func nextGeneration(t *testing.T, s *tss.KeyShare) *tss.KeyShare {
	t.Helper()
	b, _ := tss.MarshalShare(s)
	next, err := tss.UnmarshalShare(b)
	if err != nil {
		t.Fatal(err)
	}
	gen := strconv.Itoa(keystore.GenerationOf(s.Self.ID) + 1)
	for i := range next.Parties {
		next.Parties[i].ID = next.Parties[i].Node + "#" + gen
	}
	next.Self.ID = next.Self.Node + "#" + gen
	return next
}

// realBackend opens one persistent backend's sealer for a test.
type realBackend struct {
	name string
	open func(t *testing.T) hsm.Sealer
}

// realBackends are Vault, SoftHSM and local sealers; Vault and SoftHSM
// skip when their tools are missing. Every open sealer re-keys (local has
// a salt file).
func realBackends(ctx context.Context) []realBackend {
	return []realBackend{
		{hsm.BackendVault, func(t *testing.T) hsm.Sealer {
			srv := vaulttest.Start(t, vaulttest.Options{})
			s, err := hsm.NewVault(ctx, srv.SealerConfig(t, "triad-shared"), nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{hsm.BackendPKCS11, func(t *testing.T) hsm.Sealer {
			cfg := softhsmtest.NewToken(t).Config("triad-shared")
			if _, err := hsm.InitPKCS11(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			s, err := hsm.NewPKCS11(ctx, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{hsm.BackendLocal, func(t *testing.T) hsm.Sealer {
			s, err := hsm.NewLocal([]byte("shared-local-passphrase"), hsm.Argon2Params{Time: 1, MemoryKiB: 8192, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.LoadSaltFile(filepath.Join(t.TempDir(), "salt")); err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
}
