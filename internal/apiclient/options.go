package apiclient

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/daemon"
)

// AddrFile is where `node run` writes the API's address in the data dir.
const AddrFile = daemon.AddrFile

// Options say how to reach one node. The TLS ones apply when the node's
// config has api.tls (or TLSCA is given): the client then speaks https,
// trusting TLSCA (default: the node's own certificate, api.tls.cert_file)
// and presenting TLSCert/TLSKey (default: $TRIAD_TLS_CERT/$TRIAD_TLS_KEY)
// when set.
type Options struct {
	Config    string // node config file: finds the address and the token
	API       string // host:port (default: the data dir's api.addr)
	TokenFile string // default: $TRIAD_TOKEN, else the config's first Role credential
	Role      string
	TLSCA     string
	TLSCert   string
	TLSKey    string
	MaxConns  int // bound on connections to the node (0: Go's default transport)
}

// New makes a client for the node o names.
func New(o Options) (*Client, error) {
	var cfg *daemon.Config
	if o.Config != "" {
		c, err := daemon.LoadConfig(o.Config)
		if err != nil {
			return nil, UserError{err}
		}
		cfg = c
	}
	addr := o.API
	if addr == "" {
		if cfg == nil {
			return nil, userErr("give --config or --api")
		}
		b, err := os.ReadFile(filepath.Join(cfg.Resolve(cfg.DataDir), AddrFile))
		if err != nil {
			return nil, fmt.Errorf("finding the API address (is `triad node run` running?): %w", err)
		}
		addr = strings.TrimSpace(string(b))
	}
	addr = Dialable(addr)
	tc, err := o.tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	token, err := o.token(cfg)
	if err != nil {
		return nil, err
	}
	if tc == nil && o.MaxConns == 0 {
		return &Client{base: "http://" + addr, token: token, http: &http.Client{}}, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.MaxConns > 0 {
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = o.MaxConns, o.MaxConns, o.MaxConns
	}
	scheme := "http://"
	if tc != nil {
		tr.TLSClientConfig, scheme = tc, "https://"
	}
	return &Client{base: scheme + addr, token: token, http: &http.Client{Transport: tr}}, nil
}

func (o Options) token(cfg *daemon.Config) (string, error) {
	token := os.Getenv("TRIAD_TOKEN")
	switch {
	case o.TokenFile != "":
		b, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return "", userErr("reading --token-file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	case token == "" && cfg != nil:
		for _, cr := range cfg.API.Credentials {
			if cr.Role == o.Role && cr.TokenFile != "" {
				b, err := os.ReadFile(cfg.Resolve(cr.TokenFile))
				if err == nil {
					token = strings.TrimSpace(string(b))
					break
				}
			}
		}
	}
	if token == "" {
		return "", userErr("no API token: set TRIAD_TOKEN, --token-file, or a %s credential with token_file in the config", o.Role)
	}
	return token, nil
}

// Dialable turns a wildcard listen address as written to api.addr (Go
// reports a 0.0.0.0 listener as the dual-stack [::]) into 127.0.0.1,
// which either accepts and which a loopback certificate names.
func Dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// tlsConfig is the client's TLS configuration, or nil for plain HTTP: TLS
// when the node's config has api.tls or TLSCA is given.
func (o Options) tlsConfig(cfg *daemon.Config) (*tls.Config, error) {
	var nodeTLS api.TLSConfig
	if cfg != nil {
		nodeTLS = cfg.API.TLS
	}
	ca, caKey := o.TLSCA, "--tls-ca"
	if ca == "" && nodeTLS.Enabled() {
		ca, caKey = cfg.Resolve(nodeTLS.CertFile), "api.tls.cert_file (the default of --tls-ca)"
	}
	if ca == "" {
		if o.TLSCert != "" || o.TLSKey != "" {
			return nil, userErr("--tls-cert and --tls-key need https: the node's config has no api.tls; give --tls-ca")
		}
		return nil, nil
	}
	cert, certKey := o.TLSCert, "--tls-cert"
	if cert == "" {
		cert, certKey = os.Getenv("TRIAD_TLS_CERT"), "TRIAD_TLS_CERT"
	}
	key, keyKey := o.TLSKey, "--tls-key"
	if key == "" {
		key, keyKey = os.Getenv("TRIAD_TLS_KEY"), "TRIAD_TLS_KEY"
	}
	switch {
	case cert != "" && key == "":
		return nil, userErr("%s is set: give its private key with --tls-key or TRIAD_TLS_KEY", certKey)
	case key != "" && cert == "":
		return nil, userErr("%s is set: give its certificate with --tls-cert or TRIAD_TLS_CERT", keyKey)
	case cert == "" && nodeTLS.ClientCAFile != "":
		return nil, userErr("the node requires a client certificate (api.tls.client_ca_file in %s): give --tls-cert and --tls-key, or set TRIAD_TLS_CERT and TRIAD_TLS_KEY", o.Config)
	}
	pool, err := api.LoadCertPool(caKey, ca)
	if err != nil {
		return nil, UserError{err}
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if cert != "" {
		pair, err := api.LoadKeyPair(certKey, cert, keyKey, key)
		if err != nil {
			return nil, UserError{err}
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// Node is one node named by its config file, with a client of Role unless
// its API cannot be reached (Err says why: a node that is down has no
// api.addr).
type Node struct {
	Path   string
	Cfg    *daemon.Config
	Client *Client
	Err    error
}

// Nodes loads each config and makes a client of role for its node; a
// config that does not load is the caller's mistake.
func Nodes(paths []string, role string) ([]Node, error) {
	var out []Node
	for _, path := range paths {
		cfg, err := daemon.LoadConfig(path)
		if err != nil {
			return nil, UserError{err}
		}
		cl, err := New(Options{Config: path, Role: role})
		out = append(out, Node{Path: path, Cfg: cfg, Client: cl, Err: err})
	}
	return out, nil
}
