package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/api"
)

// apiAddrFile is where `node run` writes the API's address in the data dir.
const apiAddrFile = "api.addr"

// client talks to a running node's API on behalf of the CLI.
type client struct {
	base  string
	token string
	http  *http.Client
}

// clientFlags are shared by every command that talks to a node. The TLS
// ones apply when the node's config has api.tls (or --tls-ca is given):
// the CLI then speaks https, trusting --tls-ca (default: the node's own
// certificate, api.tls.cert_file) and presenting --tls-cert/--tls-key
// (default: $TRIAD_TLS_CERT/$TRIAD_TLS_KEY) when set.
type clientFlags struct {
	config    string
	api       string
	tokenFile string
	role      string
	tlsCA     string
	tlsCert   string
	tlsKey    string
}

func (f *clientFlags) register(c *cobra.Command, role string) {
	c.Flags().StringVarP(&f.config, "config", "c", "", "node config file (finds the API address and the token)")
	c.Flags().StringVar(&f.api, "api", "", "API address host:port (default: from the node's data dir)")
	c.Flags().StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token (default: $TRIAD_TOKEN, else the config's first "+role+" credential)")
	c.Flags().StringVar(&f.tlsCA, "tls-ca", "", "PEM CA certificate(s) the node's API certificate must chain to; with --api it means https (default: the config's api.tls.cert_file)")
	c.Flags().StringVar(&f.tlsCert, "tls-cert", "", "PEM client certificate, for a node that requires one (api.tls.client_ca_file) (default: $TRIAD_TLS_CERT)")
	c.Flags().StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert (default: $TRIAD_TLS_KEY)")
	f.role = role
}

func (f *clientFlags) client() (*client, error) {
	var cfg *node.Config
	if f.config != "" {
		c, err := node.LoadConfig(f.config)
		if err != nil {
			return nil, userError{err}
		}
		cfg = c
	}
	addr := f.api
	if addr == "" {
		if cfg == nil {
			return nil, userErr("give --config or --api")
		}
		b, err := os.ReadFile(filepath.Join(cfg.Resolve(cfg.DataDir), apiAddrFile))
		if err != nil {
			return nil, fmt.Errorf("finding the API address (is `triad node run` running?): %w", err)
		}
		addr = strings.TrimSpace(string(b))
	}
	addr = dialable(addr)
	tc, err := f.tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	token := os.Getenv("TRIAD_TOKEN")
	switch {
	case f.tokenFile != "":
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, userErr("reading --token-file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	case token == "" && cfg != nil:
		for _, cr := range cfg.API.Credentials {
			if cr.Role == f.role && cr.TokenFile != "" {
				b, err := os.ReadFile(cfg.Resolve(cr.TokenFile))
				if err == nil {
					token = strings.TrimSpace(string(b))
					break
				}
			}
		}
	}
	if token == "" {
		return nil, userErr("no API token: set TRIAD_TOKEN, --token-file, or a %s credential with token_file in the config", f.role)
	}
	if tc == nil {
		return &client{base: "http://" + addr, token: token, http: &http.Client{}}, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &client{base: "https://" + addr, token: token, http: &http.Client{Transport: tr}}, nil
}

// adminNode is one node named by its config file, with an admin client
// unless its API cannot be reached (err says why: a node that is down has
// no api.addr).
type adminNode struct {
	path string
	cfg  *node.Config
	cl   *client
	err  error
}

// adminNodes loads each config and makes an admin client for its node;
// a config that does not load is the caller's mistake.
func adminNodes(paths []string) ([]adminNode, error) {
	var out []adminNode
	for _, path := range paths {
		cfg, err := node.LoadConfig(path)
		if err != nil {
			return nil, userError{err}
		}
		cf := clientFlags{config: path, role: "admin"}
		cl, err := cf.client()
		out = append(out, adminNode{path: path, cfg: cfg, cl: cl, err: err})
	}
	return out, nil
}

// dialable turns a wildcard listen address as written to api.addr (Go
// reports a 0.0.0.0 listener as the dual-stack [::]) into 127.0.0.1,
// which either accepts and which a loopback certificate names.
func dialable(addr string) string {
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
// when the node's config has api.tls or --tls-ca is given.
func (f *clientFlags) tlsConfig(cfg *node.Config) (*tls.Config, error) {
	var nodeTLS node.APITLSConfig
	if cfg != nil {
		nodeTLS = cfg.API.TLS
	}
	ca, caKey := f.tlsCA, "--tls-ca"
	if ca == "" && nodeTLS.Enabled() {
		ca, caKey = cfg.Resolve(nodeTLS.CertFile), "api.tls.cert_file (the default of --tls-ca)"
	}
	if ca == "" {
		if f.tlsCert != "" || f.tlsKey != "" {
			return nil, userErr("--tls-cert and --tls-key need https: the node's config has no api.tls; give --tls-ca")
		}
		return nil, nil
	}
	cert, certKey := f.tlsCert, "--tls-cert"
	if cert == "" {
		cert, certKey = os.Getenv("TRIAD_TLS_CERT"), "TRIAD_TLS_CERT"
	}
	key, keyKey := f.tlsKey, "--tls-key"
	if key == "" {
		key, keyKey = os.Getenv("TRIAD_TLS_KEY"), "TRIAD_TLS_KEY"
	}
	switch {
	case cert != "" && key == "":
		return nil, userErr("%s is set: give its private key with --tls-key or TRIAD_TLS_KEY", certKey)
	case key != "" && cert == "":
		return nil, userErr("%s is set: give its certificate with --tls-cert or TRIAD_TLS_CERT", keyKey)
	case cert == "" && nodeTLS.ClientCAFile != "":
		return nil, userErr("the node requires a client certificate (api.tls.client_ca_file in %s): give --tls-cert and --tls-key, or set TRIAD_TLS_CERT and TRIAD_TLS_KEY", f.config)
	}
	pool, err := api.LoadCertPool(caKey, ca)
	if err != nil {
		return nil, userError{err}
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if cert != "" {
		pair, err := api.LoadKeyPair(certKey, cert, keyKey, key)
		if err != nil {
			return nil, userError{err}
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// callError explains a failed call; TLS failures get a hint, and the node
// refusing this client's certificate is the caller's mistake.
func callError(err error) error {
	err = fmt.Errorf("calling the node: %w", err)
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		op       *net.OpError
	)
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (the node's certificate is not trusted: check --tls-ca)", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w (give --api with an address the node's certificate lists)", err)
	case errors.As(err, &op) && op.Op == "remote error" && strings.Contains(op.Err.Error(), "certificate"):
		return userError{fmt.Errorf("%w (the node wants a client certificate its CA signed: check --tls-cert and --tls-key, or TRIAD_TLS_CERT and TRIAD_TLS_KEY)", err)}
	}
	return err
}

// apiError is a JSON error from the node.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message) }

// do sends a JSON request and decodes a JSON response into out. A 4xx
// answer is the caller's mistake (exit 1), anything else the server's.
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// stream sends a JSON request and hands each line of a newline-delimited
// JSON answer to line as it arrives (lines of at most 1 MiB).
func (c *client) stream(ctx context.Context, method, path string, in any, line func([]byte) error) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := line(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the node's answer: %w", err)
	}
	return nil
}

// send makes the request; an answer of 300 or more becomes the error
// (apiError; a 4xx one is the caller's mistake).
func (c *client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, callError(err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.Unmarshal(raw, &eb)
	ae := &apiError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	if ae.Code == "" {
		ae.Message = strings.TrimSpace(string(raw))
		if strings.HasPrefix(c.base, "http://") && strings.Contains(ae.Message, "HTTPS server") {
			ae.Message += " (the node serves https: give --tls-ca, or a --config with api.tls)"
		}
	}
	if resp.StatusCode < 500 {
		return nil, userError{ae}
	}
	return nil, ae
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
