package btcdtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/internal/tooltest"
)

// Version is the btcd release the tests are pinned to.
const Version = "v0.24.2"

// Environment variables read by Binary and Start.
const (
	EnvBinary       = "TRIAD_BTCD_BIN"         // path to the btcd executable
	EnvToolsDir     = tooltest.EnvToolsDir     // tools cache root
	EnvRequireTools = tooltest.EnvRequireTools // "1": a missing btcd fails the test
)

// Timeouts. Each wait has one deadline; nothing sleeps to synchronise.
const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
	startTries   = 3 // new ports each time, in case a free port was taken
)

// Binary locates btcd: $TRIAD_BTCD_BIN, then
// ${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools}/btcd-<Version>/btcd, then PATH.
func Binary() (string, error) {
	return tooltest.Find(EnvBinary, "btcd-"+Version, "btcd", "scripts/install-btcd.sh")
}

// Options configures a node.
type Options struct {
	// MiningAddr receives block rewards from Generate (a regtest address).
	MiningAddr string
}

// Node is a running btcd regtest node.
type Node struct {
	Client  *btc.Client
	RPCHost string // 127.0.0.1:port
	User    string
	Pass    string
	Dir     string // data and logs
}

// Start runs btcd --regtest with --txindex --addrindex --rejectnonstd, RPC
// without TLS on a free loopback port, and waits until it answers RPC. The
// node is stopped (SIGINT, then SIGKILL) when the test ends.
func Start(t testing.TB, opts Options) *Node {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		tooltest.Missing(t, "btcdtest", err)
	}
	var lastErr error
	for try := 1; try <= startTries; try++ {
		n, err := start(t, bin, opts, try)
		if err == nil {
			return n
		}
		lastErr = err
		t.Logf("btcdtest: start attempt %d: %v", try, err)
	}
	t.Fatalf("btcdtest: btcd did not start: %v", lastErr)
	return nil
}

func start(t testing.TB, bin string, opts Options, try int) (*Node, error) {
	dir := filepath.Join(t.TempDir(), "btcd-"+strconv.Itoa(try))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	rpcPort, err := freePort()
	if err != nil {
		return nil, err
	}
	p2pPort, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &Node{
		RPCHost: net.JoinHostPort("127.0.0.1", strconv.Itoa(rpcPort)),
		User:    randomHex(8),
		Pass:    randomHex(16),
		Dir:     dir,
	}
	args := []string{
		"--regtest", "--notls",
		"--datadir=" + filepath.Join(dir, "data"),
		"--logdir=" + filepath.Join(dir, "logs"),
		"--rpcuser=" + n.User, "--rpcpass=" + n.Pass,
		"--rpclisten=" + n.RPCHost,
		"--listen=" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p2pPort)),
		"--nodnsseed", "--maxpeers=0",
		"--txindex", "--addrindex", "--rejectnonstd",
		"--debuglevel=info",
	}
	if opts.MiningAddr != "" {
		args = append(args, "--miningaddr="+opts.MiningAddr)
	}
	logPath := filepath.Join(dir, "btcd.out")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(withoutHome(os.Environ()), "HOME="+dir) // btcd creates ~/.btcd
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("exec %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()

	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		timer := time.NewTimer(stopTimeout)
		defer timer.Stop()
		select {
		case <-exited:
		case <-timer.C:
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	n.Client, err = btc.NewClient(btc.ClientConfig{
		Host: n.RPCHost, User: n.User, Pass: n.Pass, Network: "regtest", Timeout: 10 * time.Second,
	})
	if err != nil {
		stop()
		return nil, err
	}
	if err := waitReady(n.Client, exited); err != nil {
		stop()
		return nil, fmt.Errorf("%w\n%s", err, tooltest.Tail(logPath, 40))
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("btcdtest: btcd output:\n%s", tooltest.Tail(logPath, 40))
		}
	})
	return n, nil
}

// waitReady polls getblockcount until it answers, the process exits, or
// the one deadline passes.
func waitReady(c *btc.Client, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := c.BlockCount(ctx); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("btcd exited before it was ready: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("btcd not ready within %v", readyTimeout)
		case <-tick.C:
		}
	}
}

// Generate mines n blocks to the mining address and fails the test on error.
func (n *Node) Generate(t testing.TB, blocks uint32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := n.Client.Generate(ctx, blocks); err != nil {
		t.Fatalf("btcdtest: %v", err)
	}
}

// Mature activates segwit (BIP9 on regtest: windows of 144 blocks) and
// then mines 101 more blocks, so the coinbases paid to the mining address
// are spendable P2WPKH outputs.
func (n *Node) Mature(ctx context.Context, t testing.TB) {
	t.Helper()
	for i := 0; ; i++ {
		st, err := n.Client.SoftForkStatus(ctx, "segwit")
		if err != nil {
			t.Fatalf("btcdtest: %v", err)
		}
		if st == "active" {
			break
		}
		if i == 5 {
			t.Fatalf("btcdtest: segwit still %q", st)
		}
		n.Generate(t, 144)
	}
	n.Generate(t, 101)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func withoutHome(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HOME=") {
			out = append(out, kv)
		}
	}
	return out
}
