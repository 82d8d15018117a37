package main

import (
	"context"
	"path/filepath"
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
	cfg, err := node.LoadConfig(cfgA)
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
	out, err := runTriad(t, "restore", "-c", cfgB, "--in", backup)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	mustContain(t, "restore", out, "share custodian unseals; public view "+checks[0].View[:16], "triad drill unseal")
}
