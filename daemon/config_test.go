package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/node"
)

func TestShippedConfigsLoad(t *testing.T) {
	for _, p := range node.DefaultParties {
		c, err := LoadConfig(filepath.Join("..", "configs", p+".yaml"))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if c.Party != p || len(c.Peers) != 2 || c.Sessions.SignTimeout != 30*time.Second {
			t.Fatalf("%s: %+v", p, c)
		}
		if !strings.HasSuffix(c.Resolve(c.DataDir), filepath.Join("data", p)) {
			t.Fatalf("%s: data dir resolves to %s", p, c.Resolve(c.DataDir))
		}
	}
	if _, err := LoadConfig(filepath.Join("..", "configs", "sample.yaml")); err != nil {
		t.Fatalf("sample: %v", err)
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv("TRIAD_API_LISTEN", "127.0.0.1:9999")
	t.Setenv("TRIAD_SESSIONS_SIGN_TIMEOUT", "7s")
	c, err := LoadConfig(filepath.Join("..", "configs", "custodian.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Listen != "127.0.0.1:9999" || c.Sessions.SignTimeout != 7*time.Second {
		t.Fatalf("overrides not applied: %s %v", c.API.Listen, c.Sessions.SignTimeout)
	}
}

// Issue 10, item 8 (../shared/SECURITY.md scenario 21): a misspelt override is refused, naming
// the variable and the nearest key, as an unknown key in the file is;
// variables the config names in *_env keys and those Triad reads
// otherwise stay allowed.
func TestUnknownEnvOverrideRefused(t *testing.T) {
	path := filepath.Join("..", "configs", "custodian.yaml")
	t.Setenv("TRIAD_SESSIONS_SIGN_TIMOUT", "7s")
	_, err := LoadConfig(path)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "TRIAD_SESSIONS_SIGN_TIMOUT") ||
		!strings.Contains(err.Error(), "TRIAD_SESSIONS_SIGN_TIMEOUT") || !strings.Contains(err.Error(), "sessions.sign_timeout") {
		t.Fatalf("misspelt override: %v", err)
	}
	os.Unsetenv("TRIAD_SESSIONS_SIGN_TIMOUT")
	for _, v := range []string{"TRIAD_PASSPHRASE", "TRIAD_TOKEN", "TRIAD_TLS_CERT", "TRIAD_TOOLS_DIR", "TRIAD_TEST_ANYTHING", "TRIAD_GETH_BIN",
		"TRIAD_API_TLS_INSECURE_PLAINTEXT", "TRIAD_POLICY_CANARY_NOTICE_PERIOD", "TRIAD_HSM_LOCAL_PASSPHRASE_ENV"} {
		t.Setenv(v, os.Getenv(v)) // set, with its value if it has one
	}
	if _, err := LoadConfig(path); err != nil {
		t.Fatalf("known variables: %v", err)
	}
	// A secret variable the operator chose is allowed only when the config names it.
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Credentials = append(cfg.API.Credentials, api.Credential{Name: "alice", Role: "operator", TokenEnv: "TRIAD_ALICE_TOKEN"})
	cfg.Bitcoin.RPCPassEnv = "TRIAD_BTC_RPC_PASS"
	env := []string{"TRIAD_ALICE_TOKEN=x", "TRIAD_BTC_RPC_PASS=y", "HOME=/root"}
	if err := checkEnv(cfg, env); err != nil {
		t.Fatalf("secret variables named by the config: %v", err)
	}
	cfg.Bitcoin.RPCPassEnv = ""
	if err := checkEnv(cfg, env); err == nil || !strings.Contains(err.Error(), "TRIAD_BTC_RPC_PASS") {
		t.Fatalf("a variable the config does not name: %v", err)
	}
}

// Invalid config gives a clear error naming the key.
func TestInvalidConfigNamesKey(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "configs", "custodian.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ from, to, key string }{
		"unknown key":     {"party: custodian", "party: custodian\nsigning_speed: fast", "signing_speed"},
		"bad party":       {"party: custodian", "party: mallory", "parties"},
		"bad duration":    {"sign_timeout: 30s", "sign_timeout: soon", "sign_timeout"},
		"short timeout":   {"sign_timeout: 30s", "sign_timeout: 1ms", "sessions.sign_timeout"},
		"bad multiaddr":   {"listen: [/ip4/127.0.0.1/tcp/7101]", "listen: [tcp://127.0.0.1:7101]", "p2p.listen[0]"},
		"bad role":        {"role: operator", "role: root", "api.credentials[1].role"},
		"bad backend":     {"backend: local", "backend: floppy", "hsm.backend"},
		"missing peer id": {"peer_id_file: ../data/exchange/peer.id", "addrs_only: true", "peers[0]"},
		"bad log level":   {"level: info", "level: loud", "log.level"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			y := strings.Replace(string(base), c.from, c.to, 1)
			if y == string(base) {
				t.Fatalf("test case did not change the file")
			}
			path := filepath.Join(t.TempDir(), "custodian.yaml")
			os.WriteFile(path, []byte(y), 0o600)
			_, err := LoadConfig(path)
			if err == nil || !strings.Contains(err.Error(), c.key) {
				t.Fatalf("want an error naming %q, got %v", c.key, err)
			}
		})
	}
}
