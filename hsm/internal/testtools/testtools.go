package testtools

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// VaultVersion is the Vault release scripts/build-vault.sh builds.
const VaultVersion = "1.17.6"

// Missing skips t, or fails it when TRIAD_REQUIRE_TOOLS=1.
func Missing(t testing.TB, what, hint string) {
	t.Helper()
	msg := what + " not found; " + hint
	if os.Getenv("TRIAD_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg + " (TRIAD_REQUIRE_TOOLS=1)")
	}
	t.Skip(msg + " (set TRIAD_REQUIRE_TOOLS=1 to make this a failure)")
}

// ToolsDir is ${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools}.
func ToolsDir() string {
	if d := os.Getenv("TRIAD_TOOLS_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "triad-tools")
}

// VaultBinary returns the vault binary: $TRIAD_VAULT_BIN, then the tools
// cache, then PATH; "" if none is found.
func VaultBinary() string {
	if p := os.Getenv("TRIAD_VAULT_BIN"); p != "" {
		return executable(p)
	}
	if d := ToolsDir(); d != "" {
		if p := executable(filepath.Join(d, "vault-"+VaultVersion, "vault")); p != "" {
			return p
		}
	}
	p, _ := exec.LookPath("vault")
	return p
}

// SoftHSMModule returns libsofthsm2.so: $TRIAD_SOFTHSM_MODULE, then the
// standard Debian and upstream paths; "" if none is found.
func SoftHSMModule() string {
	if p := os.Getenv("TRIAD_SOFTHSM_MODULE"); p != "" {
		if readable(p) {
			return p
		}
		return ""
	}
	for _, p := range []string{
		"/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/local/lib/softhsm/libsofthsm2.so",
		"/usr/lib64/pkcs11/libsofthsm2.so",
		"/opt/homebrew/lib/softhsm/libsofthsm2.so",
	} {
		if readable(p) {
			return p
		}
	}
	return ""
}

// SoftHSMUtil returns softhsm2-util from PATH, or "".
func SoftHSMUtil() string {
	p, _ := exec.LookPath("softhsm2-util")
	return p
}

func executable(p string) string {
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return ""
	}
	return p
}

func readable(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
