package btcdtest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triad-custody/triad/custody/btc/btcdtest"
)

func TestBinaryLookupOrder(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "btcd")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(btcdtest.EnvBinary, fake)
	if p, err := btcdtest.Binary(); err != nil || p != fake {
		t.Fatalf("env: %q %v", p, err)
	}
	t.Setenv(btcdtest.EnvBinary, filepath.Join(dir, "missing"))
	if _, err := btcdtest.Binary(); err == nil || !strings.Contains(err.Error(), btcdtest.EnvBinary) {
		t.Fatalf("a wrong %s must be an error, not a fallback: %v", btcdtest.EnvBinary, err)
	}

	tools := t.TempDir()
	cached := filepath.Join(tools, "btcd-"+btcdtest.Version, "btcd")
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cached, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(btcdtest.EnvBinary, "")
	t.Setenv(btcdtest.EnvToolsDir, tools)
	if p, err := btcdtest.Binary(); err != nil || p != cached {
		t.Fatalf("tools dir: %q %v", p, err)
	}

	t.Setenv(btcdtest.EnvToolsDir, t.TempDir())
	t.Setenv("PATH", dir)
	if p, err := btcdtest.Binary(); err != nil || p != fake {
		t.Fatalf("PATH: %q %v", p, err)
	}
	t.Setenv("PATH", "")
	if _, err := btcdtest.Binary(); err == nil || !strings.Contains(err.Error(), "install-btcd.sh") {
		t.Fatalf("missing: %v", err)
	}
}

func TestStartAndStop(t *testing.T) {
	node := btcdtest.Start(t, btcdtest.Options{})
	if !strings.HasPrefix(node.RPCHost, "127.0.0.1:") {
		t.Fatalf("RPC on %s", node.RPCHost)
	}
	if n, err := node.Client.BlockCount(t.Context()); err != nil || n != 0 {
		t.Fatalf("fresh regtest: height %d, %v", n, err)
	}
}
