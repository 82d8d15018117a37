package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The evm section (issue 12): one entry per chain with this node's own EVM
// node; a bad entry is refused at load with the key named, so a node never
// starts checking EVM requests against a node it cannot reach or a cap it
// misread (../shared/SECURITY.md scenario 26: every signer checks on its own chain
// node).
func TestEVMConfig(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "configs", "custodian.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	chain := func(id, url string, conf int) string {
		return "\n  - {chain_id: " + id + ", rpc_url: \"" + url + "\", max_fee_per_gas_wei: 100000000000, " +
			"max_priority_fee_per_gas_wei: 2000000000, max_gas: 200000, confirmations: " + string(rune('0'+conf)) + "}"
	}
	load := func(t *testing.T, chains ...string) (*Config, error) {
		y := string(base) + "\nevm:\n  chains:" + strings.Join(chains, "")
		path := filepath.Join(t.TempDir(), "custodian.yaml")
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(path)
	}
	cfg, err := load(t, chain("1337", "http://127.0.0.1:8545", 2))
	if err != nil {
		t.Fatalf("a good evm section: %v", err)
	}
	if c, ok := cfg.EVM.Chain(1337); !ok || c.RPCURL != "http://127.0.0.1:8545" || c.Confirmations != 2 {
		t.Fatalf("Chain(1337) = %+v, %v", c, ok)
	}
	if _, ok := cfg.EVM.Chain(1); ok {
		t.Fatal("Chain(1) found a chain that is not configured")
	}
	for name, c := range map[string]struct {
		chains []string
		key    string
	}{
		"no rpc_url":     {[]string{chain("1337", "", 2)}, "evm.chains[0].rpc_url"},
		"bad rpc_url":    {[]string{chain("1337", "ftp://x", 2)}, "evm.chains[0].rpc_url"},
		"no chain_id":    {[]string{chain("0", "http://127.0.0.1:8545", 2)}, "evm.chains[0].chain_id"},
		"no depth":       {[]string{chain("1337", "http://127.0.0.1:8545", 0)}, "evm.chains[0].confirmations"},
		"chain twice":    {[]string{chain("5", "http://a:1", 1), chain("5", "http://b:1", 1)}, "evm.chains[1].chain_id"},
		"unknown subkey": {[]string{"\n  - {chain_id: 5, rpc_url: \"http://a:1\", confirmation: 3}"}, "confirmation"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, c.chains...)
			if err == nil || !strings.Contains(err.Error(), c.key) {
				t.Fatalf("want an error naming %q, got %v", c.key, err)
			}
		})
	}
}
