package gethtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

// Version is the geth release the tests are pinned to (scripts/install-geth.sh).
const Version = "v1.17.10"

// ChainID is the chain ID of geth --dev.
const ChainID = 1337

// Environment variables read by Binary and Start.
const (
	EnvBinary       = "TRIAD_GETH_BIN"      // path to the geth executable
	EnvToolsDir     = "TRIAD_TOOLS_DIR"     // tools cache root
	EnvRequireTools = "TRIAD_REQUIRE_TOOLS" // "1": a missing tool fails the test
)

// Timeouts. Each wait has one deadline; nothing sleeps to synchronise.
const (
	readyTimeout   = 60 * time.Second
	receiptTimeout = 60 * time.Second
	stopTimeout    = 15 * time.Second
)

// ToolsDir is ${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools}.
func ToolsDir() string {
	if d := os.Getenv(EnvToolsDir); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "triad-tools")
}

// Binary locates geth: $TRIAD_GETH_BIN, then
// ${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools}/geth-<Version>/geth, then PATH.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%q is not an executable file", EnvBinary, p)
	}
	if dir := ToolsDir(); dir != "" {
		if p := filepath.Join(dir, "geth-"+Version, "geth"); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("geth"); err == nil {
		return p, nil
	}
	return "", errors.New("geth not found: set " + EnvBinary + ", or run scripts/install-geth.sh, or put geth on PATH")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// SkipOrFail skips the test for a missing tool, or fails it when
// TRIAD_REQUIRE_TOOLS=1.
func SkipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(EnvRequireTools) == "1" {
		t.Fatalf("gethtest: %v (%s=1)", err, EnvRequireTools)
	}
	t.Skipf("gethtest: skipping: %v", err)
}

// Chain is a running geth --dev node.
type Chain struct {
	URL    string // http://127.0.0.1:port
	Client *ethclient.Client
	RPC    *rpc.Client
	Dev    common.Address // the funded, unlocked developer account
	Dir    string
}

var endpointRE = regexp.MustCompile(`HTTP server started\s+endpoint=(\S+)`)

// Start runs geth --dev and waits, under one deadline, until its HTTP
// endpoint answers. The node is stopped (SIGINT, then SIGKILL) when the
// test ends.
func Start(t testing.TB) *Chain {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		SkipOrFail(t, err)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "--dev", "--dev.period", "0", "--datadir", filepath.Join(dir, "data"),
		"--http", "--http.addr", "127.0.0.1", "--http.port", "0", "--http.api", "eth,net,web3",
		"--ipcdisable", "--nodiscover", "--maxpeers", "0", "--port", "0", "--authrpc.port", "0",
		"--cache", "64", "--verbosity", "3")
	logPath := filepath.Join(dir, "geth.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("gethtest: exec %s: %v", bin, err)
	}
	endpoint := make(chan string, 1)
	var copied sync.WaitGroup
	copied.Add(1)
	go func() { defer copied.Done(); scanLog(pipe, logFile, endpoint) }()
	exited := make(chan error, 1)
	go func() { copied.Wait(); exited <- cmd.Wait(); logFile.Close() }()
	stop := stopper(cmd, exited)
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("gethtest: geth output:\n%s", tail(logPath))
		}
	})
	c, err := connect(endpoint, exited)
	if err != nil {
		stop()
		t.Fatalf("gethtest: %v\n%s", err, tail(logPath))
	}
	c.Dir = dir
	t.Cleanup(c.Client.Close)
	return c
}

// scanLog copies geth's log to w and sends the HTTP endpoint once seen.
func scanLog(r io.Reader, w io.Writer, endpoint chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(w, line)
		if m := endpointRE.FindStringSubmatch(line); m != nil && !sent {
			endpoint <- m[1]
			sent = true
		}
	}
	_, _ = io.Copy(w, r)
}

func stopper(cmd *exec.Cmd, exited <-chan error) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			timer := time.NewTimer(stopTimeout)
			defer timer.Stop()
			select {
			case <-exited:
			case <-timer.C:
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
}

// connect waits for the endpoint, then for eth_accounts to name the
// developer account, under one deadline.
func connect(endpoint <-chan string, exited <-chan error) (*Chain, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	var ep string
	select {
	case ep = <-endpoint:
	case err := <-exited:
		return nil, fmt.Errorf("geth exited before serving HTTP: %v", err)
	case <-ctx.Done():
		return nil, fmt.Errorf("geth served no HTTP endpoint within %v", readyTimeout)
	}
	if !strings.HasPrefix(ep, "127.0.0.1:") {
		return nil, fmt.Errorf("geth listens on %q, not loopback", ep)
	}
	url := "http://" + ep
	rc, err := rpc.DialContext(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	var accts []common.Address
	if err := rc.CallContext(ctx, &accts, "eth_accounts"); err != nil || len(accts) == 0 {
		rc.Close()
		return nil, fmt.Errorf("eth_accounts: %v (%d accounts)", err, len(accts))
	}
	return &Chain{URL: url, RPC: rc, Client: ethclient.NewClient(rc), Dev: accts[0]}, nil
}

// tail returns the last lines of geth's log (it logs no secrets).
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
