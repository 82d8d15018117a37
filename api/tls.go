package api

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/triad-custody/triad/internal/securefile"
	"github.com/triad-custody/triad/node"
)

// maxPEMFile bounds a certificate, key or CA file.
const maxPEMFile = 1 << 20

// ServerTLS is the API's TLS configuration from api.tls, or nil when TLS is
// not configured. resolve makes the config's relative paths absolute
// (node.Config.Resolve; nil: paths are used as given). TLS 1.2 at least
// (1.3 is negotiated whenever the client has it); with ClientCAFile every
// client must present a certificate signed by one of those CAs. Errors
// wrap node.ErrConfig and name the key and the file, never key material.
func ServerTLS(c TLSConfig, resolve func(string) string) (*tls.Config, error) {
	if resolve == nil {
		resolve = func(p string) string { return p }
	}
	switch {
	case !c.Enabled() && c.KeyFile == "" && c.ClientCAFile == "":
		return nil, nil
	case !c.Enabled():
		return nil, fmt.Errorf("%w: api.tls.cert_file: required when api.tls.key_file or api.tls.client_ca_file is set", node.ErrConfig)
	case c.KeyFile == "":
		return nil, fmt.Errorf("%w: api.tls.key_file: required with api.tls.cert_file", node.ErrConfig)
	}
	pair, err := LoadKeyPair("api.tls.cert_file", resolve(c.CertFile), "api.tls.key_file", resolve(c.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", node.ErrConfig, err)
	}
	tc := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		// HTTP/1.1 only, as over plain HTTP, so the SSE event stream and
		// the NDJSON progress streams are served the same way.
		NextProtos: []string{"http/1.1"},
	}
	if c.ClientCAFile != "" {
		pool, err := LoadCertPool("api.tls.client_ca_file", resolve(c.ClientCAFile))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", node.ErrConfig, err)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// LoadKeyPair reads a PEM certificate chain (leaf first) and its PEM
// private key. The key file must be a regular file not accessible to other
// users. Errors name certKey or keyKey (a config key or a flag) and the
// file; the key's bytes are zeroed after parsing and never in an error.
func LoadKeyPair(certKey, certFile, keyKey, keyFile string) (tls.Certificate, error) {
	certPEM, err := readPEMFile(certKey, certFile, false)
	if err != nil {
		return tls.Certificate{}, err
	}
	certs, err := parseCerts(certKey, certFile, certPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	if leaf := certs[0]; time.Now().After(leaf.NotAfter) {
		return tls.Certificate{}, fmt.Errorf("%s: %s: the certificate expired at %s", certKey, certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	keyPEM, err := readPEMFile(keyKey, keyFile, true)
	if err != nil {
		return tls.Certificate{}, err
	}
	defer clear(keyPEM)
	if !hasPrivateKeyBlock(keyPEM) {
		return tls.Certificate{}, fmt.Errorf("%s: %s: no PEM private key block", keyKey, keyFile)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// tls errors describe the mismatch or the key's type, not its bytes.
		return tls.Certificate{}, fmt.Errorf("%s %s and %s %s: %v", certKey, certFile, keyKey, keyFile, err)
	}
	return pair, nil
}

// hasPrivateKeyBlock: some block is a "... PRIVATE KEY" (openssl may put
// an "EC PARAMETERS" block first).
func hasPrivateKeyBlock(b []byte) bool {
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			return false
		}
		if strings.HasSuffix(blk.Type, "PRIVATE KEY") {
			return true
		}
	}
}

// LoadCertPool reads one or more PEM CA certificates into a pool. Errors
// name key (a config key or a flag) and the file.
func LoadCertPool(key, file string) (*x509.CertPool, error) {
	b, err := readPEMFile(key, file, false)
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(key, file, b)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// parseCerts parses the PEM blocks of a certificate file: at least one,
// every one a CERTIFICATE (a key has its own file). Text between blocks,
// as openssl writes it, is ignored.
func parseCerts(key, file string, b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: %s: a PEM %q block where certificates belong", key, file, blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: certificate %d: %v", key, file, len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %s: no PEM certificate", key, file)
	}
	return out, nil
}

// readPEMFile reads a certificate, key or CA file; a secret one must not
// be accessible to other users.
func readPEMFile(key, path string, secret bool) ([]byte, error) {
	return securefile.Read(key, path, maxPEMFile, secret)
}
