package softhsmtest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/hsm/internal/testtools"
)

// Token is an initialised SoftHSM2 token.
type Token struct {
	Module  string // path of libsofthsm2.so
	Label   string
	PIN     string // user PIN (test secret)
	PINFile string // the same PIN in a 0600 file
	Dir     string // token directory
}

// NewToken creates a token in a temporary directory.
func NewToken(t testing.TB) *Token {
	t.Helper()
	module := testtools.SoftHSMModule()
	util := testtools.SoftHSMUtil()
	if module == "" || util == "" {
		testtools.Missing(t, "SoftHSM2 (libsofthsm2.so and softhsm2-util)", "run scripts/install-softhsm.sh or set TRIAD_SOFTHSM_MODULE")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)

	tok := &Token{Module: module, Label: "triad-" + randHex(t, 6), PIN: randHex(t, 8), Dir: tokens}
	cmd := exec.Command(util, "--init-token", "--free", "--label", tok.Label, "--pin", tok.PIN, "--so-pin", randHex(t, 8))
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsmtest: softhsm2-util --init-token: %v\n%s", err, out)
	}
	tok.PINFile = filepath.Join(dir, "pin")
	if err := os.WriteFile(tok.PINFile, []byte(tok.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return tok
}

// Config returns an hsm.PKCS11Config for this token and key label.
func (tok *Token) Config(keyLabel string) hsm.PKCS11Config {
	return hsm.PKCS11Config{Module: tok.Module, TokenLabel: tok.Label, PINFile: tok.PINFile, KeyLabel: keyLabel}
}

func randHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
