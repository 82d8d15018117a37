package tooltest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Environment variables read here.
const (
	EnvToolsDir     = "TRIAD_TOOLS_DIR"     // tools cache root
	EnvRequireTools = "TRIAD_REQUIRE_TOOLS" // "1": a missing tool fails the test
)

// Dir is ${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools} ("" without a home).
func Dir() string {
	if d := os.Getenv(EnvToolsDir); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "triad-tools")
}

// Find locates the executable name: $envBinary, then Dir()/subdir/name,
// then PATH. installer is the script that installs it (for the error).
func Find(envBinary, subdir, name, installer string) (string, error) {
	if p := os.Getenv(envBinary); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%q is not an executable file", envBinary, p)
	}
	if dir := Dir(); dir != "" {
		if p := filepath.Join(dir, subdir, name); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: set %s, or run %s, or put %s on PATH", name, envBinary, installer, name)
}

// Missing skips t for a missing tool, or fails it when TRIAD_REQUIRE_TOOLS=1.
func Missing(t testing.TB, who string, err error) {
	t.Helper()
	if os.Getenv(EnvRequireTools) == "1" {
		t.Fatalf("%s: %v (%s=1)", who, err, EnvRequireTools)
	}
	t.Skipf("%s: skipping: %v", who, err)
}

// Tail returns the last n lines of a tool's log file.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
