package vaulttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/hsm/internal/testtools"
	"github.com/triad-custody/triad/internal/certtest"
)

// Options configures Start.
type Options struct {
	// TLS serves HTTPS with a fresh self-signed CA (see Server.CACert).
	TLS bool
}

// Server is a running (or stopped) Vault child process.
type Server struct {
	Addr   string // e.g. http://127.0.0.1:41234
	CACert string // PEM path when Options.TLS, else ""

	rootToken string
	unsealKey string
	bin, dir  string
	port      int
	tls       *certtest.Files // nil: plain HTTP
	cmd       *exec.Cmd
	exited    chan struct{}
	logPath   string
}

const startDeadline = 60 * time.Second

// Start launches, initialises and unseals Vault, mounts transit at
// "transit/", and stops it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := testtools.VaultBinary()
	if bin == "" {
		testtools.Missing(t, "vault binary", "run scripts/build-vault.sh or set TRIAD_VAULT_BIN")
	}
	s := &Server{bin: bin, dir: t.TempDir()}
	s.logPath = filepath.Join(s.dir, "vault.log")
	if opts.TLS {
		s.tls = certtest.New(t)
		s.CACert = s.tls.CA
	}
	t.Cleanup(func() { s.stop(t) })

	// A port picked free can be taken before Vault binds it; try a few.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("vaulttest: picking a port: %v", err)
		}
		if err = s.launch(t); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("vaulttest: starting vault: %v\n%s", err, s.logTail())
	}
	ctx, cancel := context.WithTimeout(context.Background(), startDeadline)
	defer cancel()
	c := s.client(t, "")
	init, err := c.Sys().InitWithContext(ctx, &vault.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("vaulttest: init: %v", err)
	}
	s.rootToken, s.unsealKey = init.RootToken, init.KeysB64[0]
	s.Unseal(t)
	if err := s.Client(t).Sys().MountWithContext(ctx, "transit", &vault.MountInput{Type: "transit"}); err != nil {
		t.Fatalf("vaulttest: mounting transit: %v", err)
	}
	return s
}

func (s *Server) scheme() string {
	if s.tls != nil {
		return "https"
	}
	return "http"
}

func (s *Server) writeConfig() (string, error) {
	addr := "127.0.0.1:" + strconv.Itoa(s.port)
	tlsLines := "tls_disable = true"
	if s.tls != nil {
		tlsLines = fmt.Sprintf("tls_cert_file = %q\n  tls_key_file = %q", s.tls.ServerCert, s.tls.ServerKey)
	}
	hcl := fmt.Sprintf(`storage "file" {
  path = %q
}
listener "tcp" {
  address = %q
  %s
}
api_addr = "%s://%s"
disable_mlock = true
ui = false
log_level = "warn"
`, filepath.Join(s.dir, "data"), addr, tlsLines, s.scheme(), addr)
	p := filepath.Join(s.dir, "vault.hcl")
	return p, os.WriteFile(p, []byte(hcl), 0o600)
}

// launch starts the process and waits until it answers on its port.
func (s *Server) launch(t testing.TB) error {
	cfg, err := s.writeConfig()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, "server", "-config="+cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = []string{"HOME=" + s.dir, "PATH=" + os.Getenv("PATH")} // no VAULT_* from the test's environment
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	s.Addr = fmt.Sprintf("%s://127.0.0.1:%d", s.scheme(), s.port)

	ctx, cancel := context.WithTimeout(context.Background(), startDeadline)
	defer cancel()
	c := s.client(t, "")
	return poll(ctx, exited, func() (bool, error) {
		_, err := c.Sys().HealthWithContext(ctx)
		return err == nil, nil
	})
}

// poll calls cond with exponential backoff (5 ms .. 200 ms) until it reports
// done, the process exits or ctx ends.
func poll(ctx context.Context, exited <-chan struct{}, cond func() (bool, error)) error {
	wait := 5 * time.Millisecond
	for {
		done, err := cond()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-exited:
			timer.Stop()
			return errors.New("vault exited")
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// Unseal unseals the server and waits until it is active.
func (s *Server) Unseal(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startDeadline)
	defer cancel()
	c := s.client(t, "")
	if _, err := c.Sys().UnsealWithContext(ctx, s.unsealKey); err != nil {
		t.Fatalf("vaulttest: unseal: %v", err)
	}
	err := poll(ctx, s.exited, func() (bool, error) {
		h, err := c.Sys().HealthWithContext(ctx)
		return err == nil && h.Initialized && !h.Sealed && !h.Standby, nil
	})
	if err != nil {
		t.Fatalf("vaulttest: waiting for active vault: %v\n%s", err, s.logTail())
	}
}

// Stop terminates the server (SIGTERM, then SIGKILL after a deadline) and
// waits for it to exit. Storage is kept for Restart.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop(t)
}

func (s *Server) stop(t testing.TB) {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		t.Logf("vaulttest: vault ignored SIGTERM for 20s; killed")
	}
	s.cmd = nil
}

// Restart starts the stopped server again on the same address. It comes
// back sealed; unseal says whether to unseal it before returning.
func (s *Server) Restart(t testing.TB, unseal bool) {
	t.Helper()
	if s.cmd != nil {
		t.Fatal("vaulttest: Restart of a running server")
	}
	if err := s.launch(t); err != nil {
		t.Fatalf("vaulttest: restarting vault on port %d: %v\n%s", s.port, err, s.logTail())
	}
	if unseal {
		s.Unseal(t)
	}
}

// Client returns an API client with the root token.
func (s *Server) Client(t testing.TB) *vault.Client {
	return s.client(t, s.rootToken)
}

func (s *Server) client(t testing.TB, token string) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	cfg.Timeout = 10 * time.Second
	if s.CACert != "" {
		if err := cfg.ConfigureTLS(&vault.TLSConfig{CACert: s.CACert}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatalf("vaulttest: client: %v", err)
	}
	c.SetToken(token)
	return c
}

// SealerConfig returns an hsm.VaultConfig for key using the root token,
// stored in a 0600 file (secrets never go in the config itself).
func (s *Server) SealerConfig(t testing.TB, key string) hsm.VaultConfig {
	t.Helper()
	return hsm.VaultConfig{
		Address:    s.Addr,
		TransitKey: key,
		Timeout:    5 * time.Second,
		Auth:       hsm.VaultAuthConfig{TokenFile: WriteSecret(t, s.rootToken)},
		TLS:        hsm.VaultTLSConfig{CACert: s.CACert},
	}
}

// WriteSecret writes a secret to a fresh 0600 file and returns its path.
func WriteSecret(t testing.TB, secret string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	p := filepath.Join(t.TempDir(), "secret-"+hex.EncodeToString(b))
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "--- vault log (tail) ---\n" + strings.TrimSpace(string(b))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
