// Package certtest makes throwaway X.509 certificates for the TLS tests of
// the node API and the CLI: a CA, a server certificate for 127.0.0.1, ::1
// and localhost, a client certificate, and a second CA with its own client
// certificate (one the server must refuse). Every key is a fresh ECDSA
// P-256 key, every certificate valid from an hour ago for a day, and every
// file is written as PEM into a test's temporary directory. Test-only.
//
//	f := certtest.New(t)
//	cfg.API.TLS = api.TLSConfig{CertFile: f.ServerCert, KeyFile: f.ServerKey, ClientCAFile: f.CA}
package certtest
