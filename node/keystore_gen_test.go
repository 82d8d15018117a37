package node

import (
	"context"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/crypto/vss"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/nodetest"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// TestShareFileBoundToGeneration (../shared/SECURITY.md scenarios 16, 32): the share
// file's AAD carries its generation. After a reshare commit, the previous
// generation's file put back in place of the share does not unseal — even
// under the same, not yet re-keyed, sealing key — and a tampered
// generation record makes the current file fail too. A commit interrupted
// between its rename and its record still loads the new share.
func TestShareFileBoundToGeneration(t *testing.T) {
	ctx := context.Background()
	s := hsm.NewMemory()
	dir := t.TempDir()
	ks, err := keystore.New(dir, "custodian", s)
	if err != nil {
		t.Fatal(err)
	}
	old := nodetest.Share(t, "custodian")
	if err := ks.Save(ctx, old); err != nil {
		t.Fatal(err)
	}
	path := ks.File(fixtures.KeyID, 0).Path
	oldFile, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.SavePending(ctx, nextGeneration(t, old)); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.CommitPending(ctx, fixtures.KeyID); err != nil {
		t.Fatal(err)
	}
	if g, err := ks.Generation(fixtures.KeyID); err != nil || g != 2 {
		t.Fatalf("generation after commit = %d, %v", g, err)
	}
	newFile, _ := os.ReadFile(path)

	load := func() (*tss.KeyShare, error) {
		fresh, err := keystore.New(dir, "custodian", s)
		if err != nil {
			t.Fatal(err)
		}
		return fresh.Load(ctx, fixtures.KeyID)
	}
	if got, err := load(); err != nil || got.Self.ID != "custodian#2" {
		t.Fatalf("after commit: %v %v", got, err)
	}
	if err := os.WriteFile(path, oldFile, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := load(); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("the generation-1 file in place of the generation-2 share: got %v, want ErrAuthFailed", err)
	}
	if err := os.WriteFile(path, newFile, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ks.Dir(), fixtures.KeyID+".gen"), []byte(`{"share":3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := load(); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("the share under a tampered generation record: got %v, want ErrAuthFailed", err)
	}

	// A crash after the commit's rename, before its record: the record
	// still names generation 2 as pending.
	if err := os.WriteFile(filepath.Join(ks.Dir(), fixtures.KeyID+".gen"), []byte(`{"share":2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cur, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.SavePending(ctx, nextGeneration(t, cur)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(ks.PendingFile(fixtures.KeyID).Path, path); err != nil {
		t.Fatal(err)
	}
	if got, err := load(); err != nil || got.Self.ID != "custodian#3" {
		t.Fatalf("after a commit interrupted before its record: %v %v", got, err)
	}
	if r, err := ks.Generations(fixtures.KeyID); err != nil || r != (keystore.GenRecord{Share: 3}) {
		t.Fatalf("record not brought up to date: %+v %v", r, err)
	}
}

// reconstructs reports whether the shares' secrets, combined by tss-lib's
// Feldman VSS reconstruction (Lagrange interpolation at 0), give the
// private key of pub.
func reconstructs(t *testing.T, pub *tss.KeyShare, shares ...*tss.KeyShare) bool {
	t.Helper()
	var vs vss.Shares
	for _, s := range shares {
		vs = append(vs, &vss.Share{Threshold: s.Threshold, ID: new(big.Int).Set(s.Data.ShareID), Share: new(big.Int).Set(s.Data.Xi)})
	}
	secret, err := vs.ReConstruct(tsslib.S256())
	if err != nil {
		t.Fatal(err)
	}
	return crypto.ScalarBaseMult(tsslib.S256(), secret).Equals(pub.Data.ECDSAPub)
}

// TestOldSharesUselessAfterReshare (../shared/SECURITY.md scenarios 15, 32): the
// regulator's disk is lost and the other two reshare to a replacement on
// the same HSM key. Two old shares still combine to the private key — the
// check below can tell — so what protects the key is that no old share can
// be had any more: every node re-keyed its sealer at commit, so neither
// the custodian's pre-reshare share file (as a backup holds it) nor the
// lost regulator's old share file unseals, and an old share combined with
// a new one gives nothing.
func TestOldSharesUselessAfterReshare(t *testing.T) {
	if testing.Short() {
		t.Skip("resharing costs tens of CPU-seconds")
	}
	net, nodes := memCluster(t, clusterOpts{withShares: true})
	ops, pub := newOperators(t)
	custodianOld := nodes["custodian"].keys.File(fixtures.KeyID, 1)
	backup, err := os.ReadFile(custodianOld.Path)
	if err != nil {
		t.Fatal(err)
	}
	lost := nodes["regulator"]
	lost.Close()
	lostFile := lost.keys.File(fixtures.KeyID, 1)
	// The replacement uses the lost node's HSM key (its own data dir).
	ks, err := keystore.New(t.TempDir(), "regulator", lost.sealer)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Options{Party: "regulator", Parties: parties, Transport: net.Join("regulator"), Keys: ks, Pool: fixturePool(t, 3),
		Sealer: lost.sealer, Authorizer: AllowAll{}, SignTimeout: 20 * time.Second, KeygenTimeout: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	nodes["regulator"] = &testNode{Node: n, sealer: lost.sealer, keys: ks}
	ev := &events{}
	for _, p := range parties {
		nodes[p].EnableRecovery(reshare.Options{Operators: pub, Observer: ev.add})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Before the reshare the old files unseal: the checks below can fail.
	for name, f := range map[string]hsm.SealedFile{"custodian's": custodianOld, "the lost regulator's": lostFile} {
		pt, err := f.Read(ctx)
		if err != nil {
			t.Fatalf("%s share file before the reshare: %v", name, err)
		}
		clear(pt)
	}
	order := ops.order(fixtureSpec(t, "replace-regulator-old-shares", "regulator", ""), "custodian", "exchange")
	if _, err := nodes["custodian"].Reshare(ctx, order, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range parties {
		if !contains(ev.steps(p), "sealing key re-keyed") {
			t.Fatalf("%s did not re-key its sealer: %v", p, ev.steps(p))
		}
	}

	oldC, oldE, oldR := nodetest.Share(t, "custodian"), nodetest.Share(t, "exchange"), nodetest.Share(t, "regulator")
	newShare := map[string]*tss.KeyShare{}
	for _, p := range parties {
		if newShare[p], err = nodes[p].keys.Load(ctx, fixtures.KeyID); err != nil {
			t.Fatal(err)
		}
	}
	// The method works: two shares of one sharing give the key.
	if !reconstructs(t, oldC, oldC, oldR) || !reconstructs(t, oldC, oldE, oldR) {
		t.Fatal("two old shares do not reconstruct the old key: the check below could not fail")
	}
	if !reconstructs(t, oldC, newShare["custodian"], newShare["regulator"]) {
		t.Fatal("two new shares do not reconstruct the key")
	}
	// An old share with a new one gives nothing.
	for _, pair := range [][2]*tss.KeyShare{{oldC, newShare["exchange"]}, {oldR, newShare["custodian"]}, {oldE, newShare["regulator"]}} {
		if reconstructs(t, oldC, pair[0], pair[1]) {
			t.Fatalf("old share %s combined with new share %s reconstructs the key", pair[0].Self.ID, pair[1].Self.ID)
		}
	}
	// And no old share can be had: the custodian's pre-reshare file (as a
	// backup holds it) and the lost regulator's file stay sealed, under
	// their own generation's AAD or the new one, and in place of the share.
	custodianOld.Path = filepath.Join(t.TempDir(), "backed-up.share")
	if err := os.WriteFile(custodianOld.Path, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]hsm.SealedFile{"custodian's": custodianOld, "the lost regulator's": lostFile} {
		for _, gen := range []uint32{1, 2} {
			f.AAD.Version = gen
			if pt, err := f.Read(ctx); !errors.Is(err, hsm.ErrAuthFailed) {
				clear(pt)
				t.Fatalf("%s old share file under generation %d after the reshare: got %v, want ErrAuthFailed", name, gen, err)
			}
		}
	}
	restored := t.TempDir()
	if err := os.WriteFile(filepath.Join(restored, fixtures.KeyID+".share"), backup, 0o600); err != nil {
		t.Fatal(err)
	}
	rks, err := keystore.New(restored, "custodian", nodes["custodian"].sealer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rks.Load(ctx, fixtures.KeyID); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("the custodian's share file from before the reshare loads: %v", err)
	}
	signAllPairs(t, ctx, nodes, "after-rekey")
}

// TestRekeyAfterCommitEveryBackend (../shared/SECURITY.md scenarios 16, 32), on Vault,
// SoftHSM and local: a reshare commit followed by keystore.Store.Rekey leaves
// every sealed file of the data dir — identity, pre-params, the new share
// — unsealing, while copies taken before it (the old share, the old
// identity, as a backup or a stolen disk holds them) no longer unseal,
// under any generation. Before the re-key those copies did unseal: the
// check can fail.
func TestRekeyAfterCommitEveryBackend(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, b := range realBackends(ctx) {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			defer s.Close()
			c := &Config{Party: "exchange", DataDir: t.TempDir()}
			if _, err := Init(ctx, c, s); err != nil {
				t.Fatal(err)
			}
			ks, err := keystore.New(c.KeysDir(), c.Party, s)
			if err != nil {
				t.Fatal(err)
			}
			old := nodetest.Share(t, "exchange")
			if err := ks.Save(ctx, old); err != nil {
				t.Fatal(err)
			}
			before, err := keystore.SealedFiles(c.SealedDir(), s)
			if err != nil || len(before) != 2 {
				t.Fatalf("sealed files before: %+v %v", before, err)
			}
			stolen := map[string]hsm.SealedFile{}
			for _, f := range before {
				cp := f.SealedFile
				cp.Path = filepath.Join(t.TempDir(), filepath.Base(f.Path))
				copyFile(t, f.Path, cp.Path)
				stolen[f.Kind] = cp
			}
			if err := ks.SavePending(ctx, nextGeneration(t, old)); err != nil {
				t.Fatal(err)
			}
			if _, err := ks.CommitPending(ctx, fixtures.KeyID); err != nil {
				t.Fatal(err)
			}
			for kind, f := range stolen {
				pt, err := f.Read(ctx)
				if err != nil {
					t.Fatalf("%s copy before the re-key: %v", kind, err)
				}
				clear(pt)
			}
			if err := ks.Rekey(ctx); err != nil {
				t.Fatal(err)
			}
			after, err := keystore.SealedFiles(c.SealedDir(), s)
			if err != nil || len(after) != 2 {
				t.Fatalf("sealed files after: %+v %v", after, err)
			}
			for _, f := range after {
				pt, err := f.Read(ctx)
				if err != nil {
					t.Fatalf("%s after the re-key: %v", f.Rel, err)
				}
				clear(pt)
			}
			for kind, f := range stolen {
				for _, gen := range []uint32{1, 2} {
					if kind == keystore.SealedShare {
						f.AAD.Version = gen
					}
					pt, err := f.Read(ctx)
					if !errors.Is(err, hsm.ErrAuthFailed) && !errors.Is(err, hsm.ErrVersionBelowMinimum) {
						clear(pt)
						t.Fatalf("%s copy after the re-key (AAD version %d): got %v, want it refused", kind, f.AAD.Version, err)
					}
				}
			}
			fresh, err := keystore.New(c.KeysDir(), c.Party, s)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := fresh.Load(ctx, fixtures.KeyID); err != nil || got.Self.ID != "exchange#2" {
				t.Fatalf("the new share after the re-key: %v %v", got, err)
			}
		})
	}
}

// failingRewrap is a Memory sealer whose Rewrap fails while fail is set: a
// re-key interrupted midway (the HSM lost, the process killed).
type failingRewrap struct {
	*hsm.Memory
	fail bool
}

func (f *failingRewrap) Rewrap(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	if f.fail {
		return nil, hsm.ErrInjected
	}
	return f.Memory.Rewrap(ctx, sealed, aad)
}

// TestRekeyInterruptedLeavesWorkingNode (../shared/SECURITY.md scenario 16): a
// re-key that fails after rotating, before every file is rewrapped, keeps
// the old key live, so the node's identity and share still unseal; running
// it again completes it, and only then does a copy from before stop
// opening.
func TestRekeyInterruptedLeavesWorkingNode(t *testing.T) {
	ctx := context.Background()
	s := &failingRewrap{Memory: hsm.NewMemory()}
	c := &Config{Party: "custodian", DataDir: t.TempDir()}
	if _, err := Init(ctx, c, s); err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.New(c.KeysDir(), c.Party, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Save(ctx, nodetest.Share(t, "custodian")); err != nil {
		t.Fatal(err)
	}
	old := ks.File(fixtures.KeyID, 1)
	old.Path = filepath.Join(t.TempDir(), "old.share")
	copyFile(t, ks.File(fixtures.KeyID, 1).Path, old.Path)
	unsealAll := func(when string) {
		t.Helper()
		files, err := keystore.SealedFiles(c.SealedDir(), s)
		if err != nil || len(files) != 2 {
			t.Fatalf("%s: %+v %v", when, files, err)
		}
		for _, f := range files {
			pt, err := f.Read(ctx)
			if err != nil {
				t.Fatalf("%s: %s: %v", when, f.Rel, err)
			}
			clear(pt)
		}
		fresh, _ := keystore.New(c.KeysDir(), c.Party, s)
		if _, err := fresh.Load(ctx, fixtures.KeyID); err != nil {
			t.Fatalf("%s: share: %v", when, err)
		}
	}
	s.fail = true
	if err := ks.Rekey(ctx); !errors.Is(err, hsm.ErrInjected) {
		t.Fatalf("interrupted re-key: %v", err)
	}
	unsealAll("after an interrupted re-key")
	if pt, err := old.Read(ctx); err != nil {
		t.Fatalf("the old key was retired by an interrupted re-key: %v", err)
	} else {
		clear(pt)
	}
	s.fail = false
	if err := ks.Rekey(ctx); err != nil {
		t.Fatal(err)
	}
	unsealAll("after the re-key completed")
	if _, err := old.Read(ctx); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("a copy from before the completed re-key: %v", err)
	}
}
