package gethtest

import (
	"bufio"
	"context"
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

	"github.com/triad-custody/triad/internal/tooltest"
)

// Version is the geth release the tests are pinned to (scripts/install-geth.sh).
const Version = "v1.17.10"

// ChainID is the chain ID of geth --dev.
const ChainID = 1337

// Environment variables read by Binary and Start.
const (
	EnvBinary       = "TRIAD_GETH_BIN"         // path to the geth executable
	EnvToolsDir     = tooltest.EnvToolsDir     // tools cache root
	EnvRequireTools = tooltest.EnvRequireTools // "1": a missing tool fails the test
)

// Timeouts. Each wait has one deadline; nothing sleeps to synchronise.
const (
	readyTimeout   = 60 * time.Second
	receiptTimeout = 60 * time.Second
	nudgeEvery     = 2 * time.Second // WaitReceipt: a pending transaction the dev chain did not seal
	stopTimeout    = 15 * time.Second
)

// ToolsDir is ${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools}.
func ToolsDir() string { return tooltest.Dir() }

// Binary locates geth: $TRIAD_GETH_BIN, then
// ${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools}/geth-<Version>/geth, then PATH.
func Binary() (string, error) {
	return tooltest.Find(EnvBinary, "geth-"+Version, "geth", "scripts/install-geth.sh")
}

// SkipOrFail skips the test for a missing tool, or fails it when
// TRIAD_REQUIRE_TOOLS=1.
func SkipOrFail(t testing.TB, err error) {
	t.Helper()
	tooltest.Missing(t, "gethtest", err)
}

// Chain is a running geth --dev node.
type Chain struct {
	URL    string // http://127.0.0.1:port
	Client *ethclient.Client
	RPC    *rpc.Client
	Dev    common.Address // the funded, unlocked developer account
	Dir    string
}

// endpointRE finds the plain JSON-RPC endpoint in geth's log (not an authenticated one).
var endpointRE = regexp.MustCompile(`HTTP server started\s+endpoint=(\S+)\s+auth=false`)

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
			t.Logf("gethtest: geth output:\n%s", tooltest.Tail(logPath, 40))
		}
	})
	c, err := connect(endpoint, exited)
	if err != nil {
		stop()
		t.Fatalf("gethtest: %v\n%s", err, tooltest.Tail(logPath, 40))
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
