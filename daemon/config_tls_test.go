package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triad-custody/triad/internal/certtest"
)

// tlsConfigFile writes custodian.yaml into a fresh dir with api.listen and
// an api.tls block (empty: none) in place of its listen line.
func tlsConfigFile(t *testing.T, listen, tlsBlock string) string {
	t.Helper()
	base, err := os.ReadFile(filepath.Join("..", "configs", "custodian.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const from = "  listen: 127.0.0.1:8101\n"
	to := "  listen: \"" + listen + "\"\n"
	if tlsBlock != "" {
		to += "  tls:\n" + tlsBlock
	}
	y := strings.Replace(string(base), from, to, 1)
	if y == string(base) {
		t.Fatal("custodian.yaml has no api listen line to replace")
	}
	path := filepath.Join(t.TempDir(), "custodian.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// api.tls is validated key by key, and plain HTTP off loopback is refused
// unless asked for.
func TestConfigAPITLS(t *testing.T) {
	f := certtest.New(t)
	block := tlsKeys
	full := block("cert_file", f.ServerCert, "key_file", f.ServerKey, "client_ca_file", f.CA)
	missing := filepath.Join(f.Dir, "nope.pem")
	cases := []struct {
		name, listen, tls string
		key               string // "" : valid
		also              string // a further part of the error
	}{
		{"cert without key", "127.0.0.1:8101", block("cert_file", f.ServerCert), "api.tls.key_file", "required"},
		{"key without cert", "127.0.0.1:8101", block("key_file", f.ServerKey), "api.tls.cert_file", "required"},
		{"client ca without cert", "127.0.0.1:8101", block("client_ca_file", f.CA), "api.tls.client_ca_file", "cert_file"},
		{"missing cert file", "127.0.0.1:8101", block("cert_file", missing, "key_file", f.ServerKey), "api.tls.cert_file", "no such file"},
		{"missing key file", "127.0.0.1:8101", block("cert_file", f.ServerCert, "key_file", missing), "api.tls.key_file", "no such file"},
		{"missing client ca file", "127.0.0.1:8101", block("cert_file", f.ServerCert, "key_file", f.ServerKey, "client_ca_file", missing), "api.tls.client_ca_file", "no such file"},
		{"directory as cert", "127.0.0.1:8101", block("cert_file", f.Dir, "key_file", f.ServerKey), "api.tls.cert_file", "directory"},
		{"plaintext and tls", "127.0.0.1:8101", full + "    insecure_plaintext: true\n", "api.tls.insecure_plaintext", "contradicts"},
		{"listen not host:port", "8101", "", "api.listen", "host:port"},
		{"all interfaces without tls", "0.0.0.0:8101", "", "api.listen", "not a loopback address"},
		{"empty host without tls", ":8101", "", "api.listen", "insecure_plaintext"},
		{"ipv6 any without tls", "[::]:8101", "", "api.listen", "api.tls.cert_file"},
		{"lan address without tls", "10.1.2.3:8101", "", "api.listen", "plain HTTP"},
		{"host name without tls", "node.example:8101", "", "api.listen", "not a loopback address"},
		{"all interfaces, insecure_plaintext", "0.0.0.0:8101", "    insecure_plaintext: true\n", "", ""},
		{"all interfaces, tls", "0.0.0.0:8101", block("cert_file", f.ServerCert, "key_file", f.ServerKey), "", ""},
		{"all interfaces, mutual tls", "0.0.0.0:8101", full, "", ""},
		{"loopback, mutual tls", "127.0.0.1:0", full, "", ""},
		{"localhost", "localhost:8101", "", "", ""},
		{"127/8", "127.0.0.2:8101", "", "", ""},
		{"ipv6 loopback", "[::1]:8101", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := LoadConfig(tlsConfigFile(t, c.listen, c.tls))
			if c.key == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if strings.Contains(c.tls, "cert_file") != cfg.API.TLS.Enabled() {
					t.Fatalf("TLS enabled = %v for %q", cfg.API.TLS.Enabled(), c.tls)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.key) || !strings.Contains(err.Error(), c.also) {
				t.Fatalf("want an error naming %q (and %q), got %v", c.key, c.also, err)
			}
		})
	}
}

// api.tls paths resolve against the config file's directory, like
// token_file: a relative path is checked and handed on resolved.
func TestConfigAPITLSRelativePaths(t *testing.T) {
	f := certtest.New(t)
	rel := tlsKeys("cert_file", "server.pem", "key_file", "server-key.pem")
	path := tlsConfigFile(t, "0.0.0.0:8101", rel)
	// The files sit next to the config, not in the working directory.
	dir := filepath.Dir(path)
	for src, dst := range map[string]string{f.ServerCert: "server.pem", f.ServerKey: "server-key.pem"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Resolve(cfg.API.TLS.CertFile); got != filepath.Join(dir, "server.pem") {
		t.Fatalf("cert_file resolves to %s", got)
	}
	os.Remove(filepath.Join(dir, "server-key.pem"))
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "api.tls.key_file") {
		t.Fatalf("a relative key_file missing next to the config: %v", err)
	}
}

// TRIAD_API_TLS_* override the api.tls keys like any other.
func TestConfigAPITLSEnvOverrides(t *testing.T) {
	f := certtest.New(t)
	path := tlsConfigFile(t, "127.0.0.1:8101", "")
	t.Run("tls", func(t *testing.T) {
		t.Setenv("TRIAD_API_LISTEN", "0.0.0.0:8101")
		t.Setenv("TRIAD_API_TLS_CERT_FILE", f.ServerCert)
		t.Setenv("TRIAD_API_TLS_KEY_FILE", f.ServerKey)
		t.Setenv("TRIAD_API_TLS_CLIENT_CA_FILE", f.CA)
		cfg, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.API.TLS; got.CertFile != f.ServerCert || got.KeyFile != f.ServerKey || got.ClientCAFile != f.CA || got.InsecurePlaintext {
			t.Fatalf("overrides not applied: %+v", got)
		}
	})
	t.Run("insecure_plaintext", func(t *testing.T) {
		t.Setenv("TRIAD_API_LISTEN", "0.0.0.0:8101")
		if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "api.listen") {
			t.Fatalf("plain HTTP on 0.0.0.0 accepted: %v", err)
		}
		t.Setenv("TRIAD_API_TLS_INSECURE_PLAINTEXT", "true")
		cfg, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.API.TLS.InsecurePlaintext || cfg.API.TLS.Enabled() {
			t.Fatalf("override not applied: %+v", cfg.API.TLS)
		}
	})
}

// tlsKeys is an api.tls block of key, value pairs.
func tlsKeys(kv ...string) string {
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		b.WriteString("    " + kv[i] + ": \"" + kv[i+1] + "\"\n")
	}
	return b.String()
}
