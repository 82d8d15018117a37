package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/daemon"
	"github.com/triad-custody/triad/internal/certtest"
	"github.com/triad-custody/triad/node"
)

const tlsTestToken = "client-tls-test-token-0123456789"

// tokenHandler answers GET /v1/status with {"party":"custodian"} to the
// test token, 401 to anything else.
func tokenHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+tlsTestToken {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":{"code":"unauthorized","message":"bad token"}}`))
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"party": "custodian"})
}

// tlsNodeConfig writes custodian's config (writeConfigAt) into dir with
// tlsBlock as its api.tls section ("": none), its admin token file, and
// addr as its data dir's api.addr, the way `node run` leaves them.
func tlsNodeConfig(t *testing.T, dir, tlsBlock, addr string) string {
	t.Helper()
	path := writeConfigAt(t, dir, "custodian", "custodian", "", nil)
	if tlsBlock != "" {
		withAPITLS(t, path, tlsBlock)
	}
	data := filepath.Join(dir, "custodian")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]string{"admin.token": tlsTestToken + "\n", apiAddrFile: addr + "\n"} {
		if err := os.WriteFile(filepath.Join(data, name), []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// withAPITLS adds tlsBlock as the api.tls section of the config at path
// (written by writeConfigAt).
func withAPITLS(t *testing.T, path, tlsBlock string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const listen = "  listen: 127.0.0.1:0\n"
	y := strings.Replace(string(b), listen, listen+"  tls:\n"+tlsBlock, 1)
	if y == string(b) {
		t.Fatal("no api listen line in the written config")
	}
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
}

// `triad node run` with api.tls and a client CA serves only https to
// clients with a certificate: `triad status` with the operator's
// certificate (TRIAD_TLS_CERT/KEY) works; without one it fails, saying so.
func TestNodeRunMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a node")
	}
	f := certtest.New(t)
	bin, dir := buildBinary(t), t.TempDir()
	var cfg string
	for _, p := range node.DefaultParties { // the peers' identities must exist; only the custodian runs
		path := writeConfig(t, dir, p, nil)
		if p == "custodian" {
			cfg = path
			withAPITLS(t, cfg, "    cert_file: "+f.ServerCert+"\n    key_file: "+f.ServerKey+"\n    client_ca_file: "+f.CA+"\n")
		}
		if out, errOut, code := triad(t, bin, "init", "-c", path); code != 0 {
			t.Fatalf("init %s: %d %s %s", p, code, out, errOut)
		}
	}
	startNode(t, bin, cfg)
	t.Setenv("TRIAD_TLS_CERT", "")
	t.Setenv("TRIAD_TLS_KEY", "")
	if out, errOut, code := triad(t, bin, "status", "-c", cfg); code != 1 || !strings.Contains(errOut, "client certificate") {
		t.Fatalf("status without a client certificate: %d %s %s", code, out, errOut)
	}
	t.Setenv("TRIAD_TLS_CERT", f.ClientCert)
	t.Setenv("TRIAD_TLS_KEY", f.ClientKey)
	if out, errOut, code := triad(t, bin, "status", "-c", cfg); code != 0 || !strings.Contains(out, "custodian") {
		t.Fatalf("status with the client certificate: %d %s %s", code, out, errOut)
	}
}

// serveTLSHandler serves h on 127.0.0.1:0 with tc; it returns host:port.
func serveTLSHandler(t *testing.T, h http.Handler, tc *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(tls.NewListener(ln, tc))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// callStatus calls GET /v1/status through cf's client.
func callStatus(t *testing.T, cf clientFlags) (*client, error) {
	t.Helper()
	cl, err := cf.client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out struct{ Party string }
	if err := cl.Do(ctx, "GET", "/v1/status", nil, &out); err != nil {
		return cl, err
	}
	if out.Party != "custodian" {
		t.Fatalf("answer %+v", out)
	}
	return cl, nil
}

func isUserError(err error) bool {
	var ue userError
	return errors.As(err, &ue)
}

// A node config with api.tls makes the CLI's client speak https: it trusts
// --tls-ca (default: the node's own certificate) and presents --tls-cert
// and --tls-key (default: TRIAD_TLS_CERT, TRIAD_TLS_KEY); with --api,
// --tls-ca alone means https.
func TestClientTLS(t *testing.T) {
	f := certtest.New(t)
	t.Setenv("TRIAD_TLS_CERT", "")
	t.Setenv("TRIAD_TLS_KEY", "")
	t.Setenv("TRIAD_TOKEN", "")
	mtls := "    cert_file: " + f.ServerCert + "\n    key_file: " + f.ServerKey + "\n    client_ca_file: " + f.CA + "\n"

	// The server's TLS comes from the same config, through api.ServerTLS.
	dir := t.TempDir()
	cfgPath := tlsNodeConfig(t, dir, mtls, "127.0.0.1:1") // api.addr rewritten below
	cfg, err := daemon.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := api.ServerTLS(cfg.API.TLS, cfg.Resolve)
	if err != nil || tc == nil {
		t.Fatalf("ServerTLS: %v", err)
	}
	addr := serveTLSHandler(t, http.HandlerFunc(tokenHandler), tc)
	if err := os.WriteFile(filepath.Join(dir, "custodian", apiAddrFile), []byte(addr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("config, client certificate from flags, default CA", func(t *testing.T) {
		cl, err := callStatus(t, clientFlags{config: cfgPath, role: "admin", tlsCert: f.ClientCert, tlsKey: f.ClientKey})
		if err != nil {
			t.Fatal(err)
		}
		if cl.Base() != "https://"+addr {
			t.Fatalf("base %s", cl.Base())
		}
	})
	t.Run("config, client certificate from the environment, --tls-ca", func(t *testing.T) {
		t.Setenv("TRIAD_TLS_CERT", f.ClientCert)
		t.Setenv("TRIAD_TLS_KEY", f.ClientKey)
		// As the drills build it: a struct literal, no flags parsed.
		if _, err := callStatus(t, clientFlags{config: cfgPath, role: "admin"}); err != nil {
			t.Fatal(err)
		}
		if _, err := callStatus(t, clientFlags{config: cfgPath, role: "admin", tlsCA: f.CA}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("config, no client certificate", func(t *testing.T) {
		_, err := (&clientFlags{config: cfgPath, role: "admin"}).client()
		if err == nil || !isUserError(err) || !strings.Contains(err.Error(), "client_ca_file") || !strings.Contains(err.Error(), "--tls-cert") {
			t.Fatalf("want a user error asking for a client certificate, got %v", err)
		}
	})
	t.Run("config, certificate without key", func(t *testing.T) {
		_, err := (&clientFlags{config: cfgPath, role: "admin", tlsCert: f.ClientCert}).client()
		if err == nil || !isUserError(err) || !strings.Contains(err.Error(), "--tls-key") {
			t.Fatalf("want a user error asking for the key, got %v", err)
		}
	})
	t.Run("config, unreadable --tls-ca", func(t *testing.T) {
		_, err := (&clientFlags{config: cfgPath, role: "admin", tlsCA: filepath.Join(dir, "nope.pem"), tlsCert: f.ClientCert, tlsKey: f.ClientKey}).client()
		if err == nil || !isUserError(err) || !strings.Contains(err.Error(), "--tls-ca") {
			t.Fatalf("want a user error naming --tls-ca, got %v", err)
		}
	})
	t.Run("config, client certificate of another CA", func(t *testing.T) {
		_, err := callStatus(t, clientFlags{config: cfgPath, role: "admin", tlsCert: f.OtherClientCert, tlsKey: f.OtherClientKey})
		if err == nil || !isUserError(err) || !strings.Contains(err.Error(), "wants a client certificate") {
			t.Fatalf("want the node to refuse the certificate, got %v", err)
		}
	})

	t.Setenv("TRIAD_TOKEN", tlsTestToken)
	t.Run("--api and --tls-ca with a client certificate", func(t *testing.T) {
		cl, err := callStatus(t, clientFlags{api: addr, role: "admin", tlsCA: f.CA, tlsCert: f.ClientCert, tlsKey: f.ClientKey})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(cl.Base(), "https://") {
			t.Fatalf("base %s", cl.Base())
		}
	})
	t.Run("--api and --tls-ca without a client certificate", func(t *testing.T) {
		cl, err := callStatus(t, clientFlags{api: addr, role: "admin", tlsCA: f.CA})
		if cl == nil {
			t.Fatalf("building the client: %v", err)
		}
		if err == nil || !isUserError(err) || !strings.Contains(err.Error(), "--tls-cert") {
			t.Fatalf("want the handshake refused with a hint, got %v", err)
		}
	})
	t.Run("--api and the wrong --tls-ca", func(t *testing.T) {
		_, err := callStatus(t, clientFlags{api: addr, role: "admin", tlsCA: f.OtherCA, tlsCert: f.ClientCert, tlsKey: f.ClientKey})
		if err == nil || !strings.Contains(err.Error(), "unknown authority") || !strings.Contains(err.Error(), "check --tls-ca") {
			t.Fatalf("want the node's certificate distrusted, got %v", err)
		}
	})
	t.Run("--api without --tls-ca is plain HTTP", func(t *testing.T) {
		cl, err := (&clientFlags{api: addr, role: "admin"}).client()
		if err != nil || cl.Base() != "http://"+addr {
			t.Fatalf("%v %+v", err, cl)
		}
		_, err = callStatus(t, clientFlags{api: addr, role: "admin"})
		if err == nil || !isUserError(err) || !strings.Contains(err.Error(), "give --tls-ca") {
			t.Fatalf("plain HTTP to the https node: want a hint, got %v", err)
		}
		_, err = (&clientFlags{api: addr, role: "admin", tlsCert: f.ClientCert, tlsKey: f.ClientKey}).client()
		if err == nil || !isUserError(err) || !strings.Contains(err.Error(), "--tls-ca") {
			t.Fatalf("a client certificate without https: %v", err)
		}
	})
	t.Run("--tls-ca against a plain HTTP node", func(t *testing.T) {
		plain := httptest.NewServer(http.HandlerFunc(tokenHandler))
		defer plain.Close()
		_, err := callStatus(t, clientFlags{api: strings.TrimPrefix(plain.URL, "http://"), role: "admin", tlsCA: f.CA})
		if err == nil || !strings.Contains(err.Error(), "HTTP response to HTTPS client") {
			t.Fatalf("want an error saying the node serves plain HTTP, got %v", err)
		}
	})
}

// A config without api.tls keeps the client on plain HTTP, whatever
// TRIAD_TLS_CERT says.
func TestClientPlainConfig(t *testing.T) {
	f := certtest.New(t)
	t.Setenv("TRIAD_TOKEN", "")
	t.Setenv("TRIAD_TLS_CERT", f.ClientCert)
	t.Setenv("TRIAD_TLS_KEY", f.ClientKey)
	plain := httptest.NewServer(http.HandlerFunc(tokenHandler))
	defer plain.Close()
	addr := strings.TrimPrefix(plain.URL, "http://")
	cfgPath := tlsNodeConfig(t, t.TempDir(), "", addr)
	cl, err := callStatus(t, clientFlags{config: cfgPath, role: "admin"})
	if err != nil || cl.Base() != "http://"+addr {
		t.Fatalf("%v %+v", err, cl)
	}
}
