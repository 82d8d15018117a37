package api

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
)

// Config is a node's api section: where the HTTP API listens, who may
// call it, how large a body may be and its TLS.
type Config struct {
	Listen string `mapstructure:"listen"`
	// Credentials: every caller has its own token and role.
	Credentials  []Credential `mapstructure:"credentials"`
	MaxBodyBytes int64        `mapstructure:"max_body_bytes"`
	// TLS serves the API over HTTPS, optionally with client certificates.
	TLS TLSConfig `mapstructure:"tls"`
}

// TLSConfig serves the API over TLS. Paths resolve against the config
// file's directory. A node whose api.listen is not a loopback address
// refuses to start without TLS unless InsecurePlaintext is set.
type TLSConfig struct {
	// CertFile is the server's PEM certificate chain (leaf first) and
	// KeyFile its PEM private key (not accessible to other users).
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// ClientCAFile, when set, turns on mutual TLS: every client must
	// present a certificate signed by one of these PEM CA certificates.
	ClientCAFile string `mapstructure:"client_ca_file"`
	// InsecurePlaintext allows plain HTTP on a non-loopback api.listen,
	// for a node behind a TLS-terminating proxy on a trusted network.
	InsecurePlaintext bool `mapstructure:"insecure_plaintext"`
}

// Enabled reports whether the API is served over TLS.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" }

// Credential is one API caller. The token is read from TokenEnv or
// TokenFile; only its hash is kept in memory.
type Credential struct {
	Name      string `mapstructure:"name"`
	Role      string `mapstructure:"role"` // admin | operator | margin-engine | auditor
	TokenEnv  string `mapstructure:"token_env"`
	TokenFile string `mapstructure:"token_file"`
}

// Roles of API callers.
var Roles = []string{"admin", "operator", "margin-engine", "auditor"}

// Validate checks the api section and names the first bad key; paths
// resolve through resolve (the config file's directory: node.Config's
// Resolve), nil using them as given.
func (c Config) Validate(resolve func(string) string) error {
	if resolve == nil {
		resolve = func(p string) string { return p }
	}
	if err := c.validateCallers(); err != nil {
		return err
	}
	return c.validateTLS(resolve)
}

func cfgErr(key, format string, a ...any) error { return node.ConfigError(key, format, a...) }

// validateCallers checks api.credentials and api.max_body_bytes.
func (c Config) validateCallers() error {
	for i, cr := range c.Credentials {
		key := fmt.Sprintf("api.credentials[%d]", i)
		if !keystore.ValidName(cr.Name) {
			return cfgErr(key+".name", "required")
		}
		if !slices.Contains(Roles, cr.Role) {
			return cfgErr(key+".role", "%q is not one of %v", cr.Role, Roles)
		}
		if (cr.TokenEnv == "") == (cr.TokenFile == "") {
			return cfgErr(key+".token_env", "set exactly one of token_env and token_file")
		}
	}
	if c.MaxBodyBytes <= 0 || c.MaxBodyBytes > 16<<20 {
		return cfgErr("api.max_body_bytes", "must be in 1..16777216")
	}
	return nil
}

// validateTLS checks api.tls and refuses plain HTTP off loopback; paths
// resolve through resolve.
func (c Config) validateTLS(resolve func(string) string) error {
	t := c.TLS
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		return cfgErr("api.tls.key_file", "required with api.tls.cert_file")
	case t.KeyFile != "" && t.CertFile == "":
		return cfgErr("api.tls.cert_file", "required with api.tls.key_file")
	case t.ClientCAFile != "" && t.CertFile == "":
		return cfgErr("api.tls.client_ca_file", "needs api.tls.cert_file and api.tls.key_file (client certificates are checked on top of TLS)")
	case t.InsecurePlaintext && t.Enabled():
		return cfgErr("api.tls.insecure_plaintext", "contradicts api.tls.cert_file: set one or the other")
	}
	for _, f := range []struct{ key, path string }{
		{"api.tls.cert_file", t.CertFile}, {"api.tls.key_file", t.KeyFile}, {"api.tls.client_ca_file", t.ClientCAFile},
	} {
		if f.path == "" {
			continue
		}
		st, err := os.Stat(resolve(f.path))
		if err != nil {
			return cfgErr(f.key, "%v", err)
		}
		if st.IsDir() {
			return cfgErr(f.key, "%s is a directory", resolve(f.path))
		}
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return cfgErr("api.listen", "%q is not host:port: %v", c.Listen, err)
	}
	if !t.Enabled() && !t.InsecurePlaintext && !isLoopback(host) {
		return cfgErr("api.listen", "%q is not a loopback address and the API would serve bearer tokens in plain HTTP: "+
			"set api.tls.cert_file and api.tls.key_file (and api.tls.client_ca_file for client certificates), "+
			"or api.tls.insecure_plaintext: true behind your own TLS proxy", c.Listen)
	}
	return nil
}

// isLoopback: "localhost", 127.0.0.0/8 or ::1. An empty host (every
// interface) and other names are not.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
