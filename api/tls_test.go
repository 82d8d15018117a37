package api_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/internal/certtest"
	"github.com/triad-custody/triad/node"
)

// serveTLS serves srv on 127.0.0.1:0 through a TLS listener, as `node run`
// does, and returns the https base URL. Cleanup closes the listener and
// waits for Serve to return.
func serveTLS(t *testing.T, srv *api.Server, tc *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tls.NewListener(ln, tc)) }()
	t.Cleanup(func() {
		ln.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after the listener closed")
		}
	})
	return "https://" + ln.Addr().String()
}

// tlsGet sends GET url with an optional bearer token through a client
// built from tc (nil: plain HTTP), one connection per call.
func tlsGet(url, token string, tc *tls.Config) (*http.Response, []byte, error) {
	tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// With api.tls and client_ca_file, the API answers only over TLS and only
// to clients presenting a certificate its CA signed; bearer tokens still
// apply on top.
func TestAPIOverMutualTLS(t *testing.T) {
	f := certtest.New(t)
	c := newAPICluster(t, st.Options{})
	tc, err := api.ServerTLS(api.TLSConfig{CertFile: f.ServerCert, KeyFile: f.ServerKey, ClientCAFile: f.CA}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tc.MinVersion != tls.VersionTLS12 || tc.ClientAuth != tls.RequireAndVerifyClientCert || tc.ClientCAs == nil {
		t.Fatalf("server TLS config: min version %x, client auth %v", tc.MinVersion, tc.ClientAuth)
	}
	base := serveTLS(t, c.server(t, custody.Custodian), tc)

	good := &tls.Config{RootCAs: f.Pool(), Certificates: []tls.Certificate{f.ClientPair()}}
	resp, body, err := tlsGet(base+"/healthz", "", good)
	if err != nil {
		t.Fatalf("client with the CA and a client certificate: %v", err)
	}
	var h struct{ Status string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &h) != nil || h.Status != "ok" {
		t.Fatalf("GET /healthz: %d %s", resp.StatusCode, body)
	}
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 || len(resp.TLS.PeerCertificates) == 0 {
		t.Fatalf("connection state: %+v", resp.TLS)
	}
	// Tokens are still required on top of the client certificate.
	if resp, _, err := tlsGet(base+"/v1/status", "", good); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v1/status without a token over mTLS: %v %v", err, resp)
	}
	if resp, body, err := tlsGet(base+"/v1/status", tokens["admin"], good); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/status as admin over mTLS: %v %v %s", err, resp, body)
	}

	// A Go client sends no certificate the server's CA list does not
	// name; force the foreign one so that the server has to refuse it.
	foreign := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { p := f.OtherPair(); return &p, nil }
	refused := map[string]struct {
		c    *tls.Config
		want string
	}{
		"no client certificate":            {&tls.Config{RootCAs: f.Pool()}, "certificate required"},
		"client certificate of another CA": {&tls.Config{RootCAs: f.Pool(), GetClientCertificate: foreign}, "unknown certificate authority"},
		"server not trusted":               {&tls.Config{RootCAs: x509.NewCertPool(), Certificates: []tls.Certificate{f.ClientPair()}}, "certificate signed by unknown authority"},
		"TLS 1.1 at most": {&tls.Config{RootCAs: f.Pool(), Certificates: []tls.Certificate{f.ClientPair()},
			MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, "protocol version"},
	}
	for name, c := range refused {
		t.Run(name, func(t *testing.T) {
			resp, body, err := tlsGet(base+"/healthz", "", c.c)
			if err == nil {
				t.Fatalf("answered: %d %s", resp.StatusCode, body)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error about %q, got %v", c.want, err)
			}
		})
	}
	t.Run("plain HTTP", func(t *testing.T) {
		// net/http answers a plain request on a TLS listener with a bare 400.
		resp, body, err := tlsGet("http://"+strings.TrimPrefix(base, "https://")+"/healthz", "", nil)
		if err == nil && (resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), `"ok"`)) {
			t.Fatalf("plain HTTP answered: %d %s", resp.StatusCode, body)
		}
	})
}

// Without client_ca_file the API is served over TLS to any client that
// trusts the server, with no client certificate.
func TestAPIOverTLS(t *testing.T) {
	f := certtest.New(t)
	c := newAPICluster(t, st.Options{})
	tc, err := api.ServerTLS(api.TLSConfig{CertFile: f.ServerCert, KeyFile: f.ServerKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tc.ClientAuth != tls.NoClientCert {
		t.Fatalf("client auth %v without client_ca_file", tc.ClientAuth)
	}
	base := serveTLS(t, c.server(t, custody.Exchange), tc)
	if resp, body, err := tlsGet(base+"/healthz", "", &tls.Config{RootCAs: f.Pool()}); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz over TLS: %v %v %s", err, resp, body)
	}
	// The server's own certificate as the only root (the CLI's default
	// --tls-ca, api.tls.cert_file) also verifies.
	pin, err := api.LoadCertPool("--tls-ca", f.ServerCert)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body, err := tlsGet(base+"/healthz", "", &tls.Config{RootCAs: pin}); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz trusting the server certificate itself: %v %v %s", err, resp, body)
	}
}

// ServerTLS: nil when api.tls is unset; clear errors naming the key and the
// file, never the key's bytes.
func TestServerTLSErrors(t *testing.T) {
	f := certtest.New(t)
	if tc, err := api.ServerTLS(api.TLSConfig{}, nil); tc != nil || err != nil {
		t.Fatalf("unconfigured: %v %v", tc, err)
	}
	if tc, err := api.ServerTLS(api.TLSConfig{InsecurePlaintext: true}, nil); tc != nil || err != nil {
		t.Fatalf("insecure_plaintext only: %v %v", tc, err)
	}
	keyPEM, err := os.ReadFile(f.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	garbage := write("garbage.pem", []byte("not a certificate\n"), 0o600)
	certPEM, _ := os.ReadFile(f.ServerCert)
	combined := write("combined.pem", append(append([]byte{}, certPEM...), keyPEM...), 0o600)
	badDER := write("bad-der.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	openKey := write("open-key.pem", keyPEM, 0o644)
	cases := map[string]struct {
		c          api.TLSConfig
		key, file  string
		alsoInText string
	}{
		"key without cert":        {api.TLSConfig{KeyFile: f.ServerKey}, "api.tls.cert_file", "", "required"},
		"client ca without cert":  {api.TLSConfig{ClientCAFile: f.CA}, "api.tls.cert_file", "", "required"},
		"cert without key":        {api.TLSConfig{CertFile: f.ServerCert}, "api.tls.key_file", "", "required"},
		"missing cert":            {api.TLSConfig{CertFile: filepath.Join(f.Dir, "nope.pem"), KeyFile: f.ServerKey}, "api.tls.cert_file", "nope.pem", "no such file"},
		"cert not PEM":            {api.TLSConfig{CertFile: garbage, KeyFile: f.ServerKey}, "api.tls.cert_file", garbage, "no PEM certificate"},
		"cert block not DER":      {api.TLSConfig{CertFile: badDER, KeyFile: f.ServerKey}, "api.tls.cert_file", badDER, "certificate 1"},
		"key in the cert file":    {api.TLSConfig{CertFile: combined, KeyFile: f.ServerKey}, "api.tls.cert_file", combined, "PRIVATE KEY"},
		"key not PEM":             {api.TLSConfig{CertFile: f.ServerCert, KeyFile: garbage}, "api.tls.key_file", garbage, "no PEM private key"},
		"certificate as key":      {api.TLSConfig{CertFile: f.ServerCert, KeyFile: f.ServerCert}, "api.tls.key_file", f.ServerCert, "no PEM private key"},
		"key of another cert":     {api.TLSConfig{CertFile: f.ServerCert, KeyFile: f.ClientKey}, "api.tls.key_file", f.ClientKey, "does not match"},
		"key readable by others":  {api.TLSConfig{CertFile: f.ServerCert, KeyFile: openKey}, "api.tls.key_file", openKey, "other users"},
		"client ca not PEM":       {api.TLSConfig{CertFile: f.ServerCert, KeyFile: f.ServerKey, ClientCAFile: garbage}, "api.tls.client_ca_file", garbage, "no PEM certificate"},
		"client ca is a key file": {api.TLSConfig{CertFile: f.ServerCert, KeyFile: f.ServerKey, ClientCAFile: f.ClientKey}, "api.tls.client_ca_file", f.ClientKey, "PRIVATE KEY"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tc, err := api.ServerTLS(c.c, nil)
			if err == nil || tc != nil {
				t.Fatalf("want an error, got %v", tc)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.key) || !strings.Contains(msg, c.file) || !strings.Contains(msg, c.alsoInText) || !strings.HasPrefix(msg, node.ErrConfig.Error()) {
				t.Fatalf("want an invalid-config error naming %s, %s and %q, got %v", c.key, c.file, c.alsoInText, err)
			}
			for _, line := range strings.Split(string(keyPEM), "\n") {
				if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line) {
					t.Fatalf("the error shows key material: %v", err)
				}
			}
		})
	}
	// Relative paths go through resolve (node.Config.Resolve).
	resolve := func(p string) string { return filepath.Join(f.Dir, p) }
	tc, err := api.ServerTLS(api.TLSConfig{CertFile: "server.pem", KeyFile: "server-key.pem", ClientCAFile: "ca.pem"}, resolve)
	if err != nil || tc == nil || tc.ClientCAs == nil {
		t.Fatalf("relative paths: %v", err)
	}
}
