package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triad-custody/triad/custody/service"
)

// Issue 10, item 8 (../shared/SECURITY.md scenario 21): `triad init` of a node that already has
// an identity is the caller's mistake (exit 1), and a node that cannot
// unseal its identity (a wrong passphrase) writes nothing before it
// fails: no custody store, no file changed.
func TestInitTwiceAndUnsealBeforeWrites(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "custodian", nil)
	t.Setenv("TRIAD_PASSPHRASE", testPassphrase)
	if out, err := runTriad(t, "init", "-c", cfg); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	_, err := runTriad(t, "init", "-c", cfg)
	if err == nil || !isUserError(err) || !strings.Contains(err.Error(), "already has an identity") {
		t.Fatalf("init again: %v (user error: %v)", err, isUserError(err))
	}

	data := filepath.Join(dir, "custodian")
	before := snapshot(t, data)
	t.Setenv("TRIAD_PASSPHRASE", "not-the-passphrase-it-was-sealed-with")
	if _, err := runTriad(t, "node", "run", "-c", cfg); err == nil || !strings.Contains(err.Error(), "unsealing identity") {
		t.Fatalf("node run with a wrong passphrase: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, service.StoreFile)); err == nil {
		t.Fatalf("the custody store was created before the node unsealed its identity")
	}
	if after := snapshot(t, data); after != before {
		t.Fatalf("the data dir changed before unsealing:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot lists a directory tree's files with their sizes and times.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %s\n", p, fi.Size(), fi.ModTime())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Issue 10, item 8: a misspelt environment override is the caller's
// mistake (exit 1), named with the key meant, and nothing is written.
func TestMisspeltEnvOverrideExitOne(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "custodian", nil)
	t.Setenv("TRIAD_PASSPHRASE", testPassphrase)
	t.Setenv("TRIAD_SESSIONS_SIGN_TIMOUT", "45s")
	_, err := runTriad(t, "init", "-c", cfg)
	if err == nil || !isUserError(err) || !strings.Contains(err.Error(), "TRIAD_SESSIONS_SIGN_TIMOUT") ||
		!strings.Contains(err.Error(), "TRIAD_SESSIONS_SIGN_TIMEOUT") {
		t.Fatalf("init with a misspelt override: %v (exit 1: %v)", err, isUserError(err))
	}
	if _, err := os.Stat(filepath.Join(dir, "custodian")); err == nil {
		t.Fatal("init wrote the data dir despite the refused override")
	}
}
