package tooltest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triad-custody/triad/internal/tooltest"
)

// Find prefers the explicit variable, then the tools cache, and says what
// to do when the tool is nowhere.
func TestFind(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(tooltest.EnvToolsDir, dir)
	t.Setenv("TRIAD_TEST_TOOL_BIN", "")
	t.Setenv("PATH", "")
	if _, err := tooltest.Find("TRIAD_TEST_TOOL_BIN", "tool-v1", "tool", "scripts/install-tool.sh"); err == nil || !strings.Contains(err.Error(), "TRIAD_TEST_TOOL_BIN") || !strings.Contains(err.Error(), "install-tool.sh") {
		t.Fatalf("missing tool: %v", err)
	}
	bin := filepath.Join(dir, "tool-v1", "tool")
	if err := os.MkdirAll(filepath.Dir(bin), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if p, err := tooltest.Find("TRIAD_TEST_TOOL_BIN", "tool-v1", "tool", "scripts/install-tool.sh"); err != nil || p != bin {
		t.Fatalf("cached tool: %q, %v", p, err)
	}
	t.Setenv("TRIAD_TEST_TOOL_BIN", filepath.Join(dir, "nope"))
	if _, err := tooltest.Find("TRIAD_TEST_TOOL_BIN", "tool-v1", "tool", "scripts/install-tool.sh"); err == nil {
		t.Fatal("a variable naming no file was accepted")
	}
}

func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("a\nb\nc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := tooltest.Tail(p, 2); got != "b\nc" {
		t.Fatalf("%q", got)
	}
}
