package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/nodetest"
)

// `triad backup` then `triad restore` into another data dir of the same
// party: the restore unseals the restored share and prints its public
// view (never the share), asking the operator to compare views.
func TestBackupRestoreCLI(t *testing.T) {
	t.Setenv("TRIAD_PASSPHRASE", testPassphrase)
	dir := t.TempDir()
	var cfgA string
	for _, p := range node.DefaultParties {
		path := writeConfig(t, dir, p, nil)
		if out, err := runTriad(t, "init", "-c", path); err != nil {
			t.Fatalf("init %s: %v\n%s", p, err, out)
		}
		if p == "custodian" {
			cfgA = path
		}
	}
	cfg, err := loadNodeConfig(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := hsm.New(ctx, cfg.HSM)
	if err != nil {
		t.Fatal(err)
	}
	ks := nodetest.KeyStore(t, cfg.KeysDir(), "custodian", s)
	checks, err := ks.CheckUnseal(ctx)
	s.Close()
	if err != nil || len(checks) != 1 {
		t.Fatalf("unseal check: %+v %v", checks, err)
	}

	backup := filepath.Join(dir, "custodian.triad-backup")
	if out, err := runTriad(t, "backup", "-c", cfgA, "--out", backup); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	cfgB := writeConfigAt(t, dir, "custodian", "custodian-restored", "", nil)
	withSaltFile(t, cfgB, filepath.Join(dir, "custodian.salt"))
	out, err := runTriad(t, "restore", "-c", cfgB, "--in", backup)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	mustContain(t, "restore", out, "share custodian unseals; public view "+checks[0].View[:16], "triad drill unseal")
}

// withSaltFile points the local salt file of the config at path to salt
// (a restored node shares the HSM key, here the passphrase and salt, of
// the node it replaces).
func withSaltFile(t *testing.T, path, salt string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`salt_file: [^}]*}`)
	if !re.Match(b) {
		t.Fatalf("%s has no salt_file", path)
	}
	b = re.ReplaceAll(b, []byte("salt_file: "+salt+"}"))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// `triad restore` of a backup made before the node's sealing key was
// replaced — as every reshare commit does — exits 1 (the caller's
// mistake), says why and writes nothing (../shared/SECURITY.md scenario 32); a
// backup made after the re-key restores.
func TestRestoreStaleBackupCLI(t *testing.T) {
	t.Setenv("TRIAD_PASSPHRASE", testPassphrase)
	dir := t.TempDir()
	salt := filepath.Join(dir, "custodian.salt")
	cfgA := writeConfig(t, dir, "custodian", nil)
	withSaltFile(t, cfgA, salt)
	if out, err := runTriad(t, "init", "-c", cfgA); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	before := filepath.Join(dir, "before.triad-backup")
	if out, err := runTriad(t, "backup", "-c", cfgA, "--out", before); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	cfg, err := loadNodeConfig(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := hsm.New(ctx, cfg.HSM)
	if err != nil {
		t.Fatal(err)
	}
	err = nodetest.KeyStore(t, cfg.KeysDir(), "custodian", s).Rekey(ctx)
	s.Close()
	if err != nil {
		t.Fatalf("re-key: %v", err)
	}

	cfgB := writeConfigAt(t, dir, "custodian", "custodian-restored", "", nil)
	withSaltFile(t, cfgB, salt)
	out, err := runTriad(t, "restore", "-c", cfgB, "--in", before)
	var ue userError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "predates the last reshare") {
		t.Fatalf("restore of a backup from before the re-key: %v (user error %v)\n%s", err, errors.As(err, &ue), out)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "custodian-restored")); len(ents) != 0 {
		t.Fatalf("a refused restore wrote %d file(s)", len(ents))
	}
	after := filepath.Join(dir, "after.triad-backup")
	if out, err := runTriad(t, "backup", "-c", cfgA, "--out", after); err != nil {
		t.Fatalf("backup after the re-key: %v\n%s", err, out)
	}
	if out, err := runTriad(t, "restore", "-c", cfgB, "--in", after); err != nil {
		t.Fatalf("restore of a backup after the re-key: %v\n%s", err, out)
	}
}
