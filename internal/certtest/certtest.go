package certtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Files are the PEM files New writes. CA signed ServerCert and ClientCert;
// OtherCA signed OtherClientCert only.
type Files struct {
	Dir                   string
	CA                    string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	OtherCA               string
	OtherClientCert       string
	OtherClientKey        string

	caCert                *x509.Certificate
	clientPair, otherPair tls.Certificate
}

// New writes a fresh set of certificates into t.TempDir().
func New(t testing.TB) *Files {
	t.Helper()
	dir := t.TempDir()
	f := &Files{Dir: dir}
	ca := newCA(t, "triad test CA")
	other := newCA(t, "some other CA")
	f.caCert = ca.cert
	f.CA = write(t, dir, "ca.pem", ca.certPEM)
	f.OtherCA = write(t, dir, "other-ca.pem", other.certPEM)
	var cc, ck, oc, ok []byte
	sc, sk, _ := ca.issue(t, "triad node", true)
	cc, ck, f.clientPair = ca.issue(t, "triad operator", false)
	oc, ok, f.otherPair = other.issue(t, "stranger", false)
	f.ServerCert, f.ServerKey = write(t, dir, "server.pem", sc), write(t, dir, "server-key.pem", sk)
	f.ClientCert, f.ClientKey = write(t, dir, "client.pem", cc), write(t, dir, "client-key.pem", ck)
	f.OtherClientCert, f.OtherClientKey = write(t, dir, "other-client.pem", oc), write(t, dir, "other-client-key.pem", ok)
	return f
}

// Pool is a pool holding only CA.
func (f *Files) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.caCert)
	return p
}

// ClientPair is the client certificate signed by CA.
func (f *Files) ClientPair() tls.Certificate { return f.clientPair }

// OtherPair is the client certificate signed by OtherCA.
func (f *Files) OtherPair() tls.Certificate { return f.otherPair }

type authority struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// template is a certificate for name, valid from an hour ago for a day.
func template(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	now := time.Now()
	return &x509.Certificate{SerialNumber: serial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}
}

func newCA(t testing.TB, name string) *authority {
	t.Helper()
	k := newKey(t)
	tmpl := template(t, name)
	tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.MaxPathLenZero = true, true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &authority{cert: c, key: k, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf: a server certificate for 127.0.0.1, ::1 and
// localhost, or a client certificate.
func (a *authority) issue(t testing.TB, name string, server bool) (certPEM, keyPEM []byte, pair tls.Certificate) {
	t.Helper()
	k := newKey(t)
	tmpl := template(t, name)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, k.Public(), a.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, pair
}

// write puts b in dir/name, readable by the owner only.
func write(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
