package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/node"
)

// ../shared/SECURITY.md scenario 31 at the CLI: `keygen spec` writes a custody key's spec with
// the cluster's parties and 2-of-3 threshold; `keygen approve` signs it as
// one party's operator; `keygen --spec --approval` needs two approvals.
func TestKeygenSpecApprove(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.json")
	if _, errOut, err := runCLI(t, "keygen", "spec", "--key-id", "vault-1", "--out", spec); err != nil {
		t.Fatalf("keygen spec: %v %s", err, errOut)
	}
	keys := map[string]ed25519.PrivateKey{}
	var files []string
	for _, p := range []string{"custodian", "exchange"} {
		_, sk, _ := ed25519.GenerateKey(nil)
		keys[p] = sk
		kf := filepath.Join(dir, p+".key")
		if err := os.WriteFile(kf, []byte(hex.EncodeToString(sk.Seed())), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, p+".json")
		_, errOut, err := runCLI(t, "keygen", "approve", "--spec", spec, "--party", p, "--operator", "op-"+p, "--operator-key", kf, "--out", out)
		if err != nil || !strings.Contains(errOut, "2-of-3") {
			t.Fatalf("keygen approve: %v %s", err, errOut)
		}
		files = append(files, out)
	}
	o, err := loadKeygenOrder(spec, files)
	if err != nil {
		t.Fatal(err)
	}
	if o.Spec.KeyID != "vault-1" || !slices.Equal(o.Spec.Parties, node.DefaultParties) || o.Spec.Threshold != 1 || !o.Spec.Expires.After(time.Now()) {
		t.Fatalf("spec %+v", o.Spec)
	}
	for i, p := range []string{"custodian", "exchange"} {
		a := o.Approvals[i]
		if want := node.SignKeygenApproval(o.Spec, p, "op-"+p, a.Nonce, keys[p]); !slices.Equal(a.Signature, want.Signature) || a.SpecDigest != want.SpecDigest {
			t.Fatalf("%s's approval is not its signature of the spec", p)
		}
	}
	if _, err := loadKeygenOrder(spec, files[:1]); err == nil {
		t.Fatal("one approval accepted")
	}
}
