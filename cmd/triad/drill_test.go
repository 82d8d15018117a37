package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/triad-custody/triad/recovery"
)

func runRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// A signed drill report verifies; the same report with one byte of its
// content changed does not, and the failure is exit 1.
func TestDrillVerify(t *testing.T) {
	d := recovery.NewDrill("all-pairs", "t1", nil)
	d.Step("custodian+exchange sign a canary").End("verified", nil)
	rep := d.Finish()
	for _, p := range []string{"custodian", "exchange"} {
		k, _, _ := crypto.GenerateEd25519Key(nil)
		a, err := recovery.SignWith(rep, p, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := rep.Attest(a); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, rep.JSON(), 0o644)
	if out, err := runRoot(t, "drill", "verify", good); err != nil || !strings.Contains(out, "VALID") {
		t.Fatalf("good report: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, bytes.Replace(rep.JSON(), []byte(`"verdict": "pass"`), []byte(`"verdict": "fail"`), 1), 0o644)
	out, err := runRoot(t, "drill", "verify", bad)
	var ue userError
	if err == nil || !errors.As(err, &ue) || !strings.Contains(out, "INVALID") {
		t.Fatalf("tampered report: %v\n%s", err, out)
	}
}
