//go:build linux

package readmetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/triad-custody/triad/daemon"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss/fixtures"
)

// runDeadline bounds the whole walkthrough: builds, the demo's DKG and
// three signatures, the cluster's DKG and two signatures.
const runDeadline = 6 * time.Minute

// TestREADMERunsAsWritten runs every sh block of README.md in order, in one
// bash session, against a triad binary the README itself builds (issue
// 14). It fails on a README whose commands do not run as written: the
// passphrase shorter than 12 bytes, the `...` placeholders of the custody
// block, a command or flag that does not exist. The walkthrough's custody
// action is a canary request approved by two parties' demo operators and
// signed (../shared/SECURITY.md scenarios 9 and 33: signed approvals; a canary key
// signs only what a canary request names, with approvals).
func TestREADMERunsAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the README walkthrough runs two DKGs")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := Blocks(string(md))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	script, pass := walkthroughScript(t, blocks)
	gocache := goEnv(t, "GOCACHE")

	dir := t.TempDir()
	linkRepo(t, root, dir)
	copyConfigs(t, filepath.Join(root, "configs"), filepath.Join(dir, "configs"))
	seedCluster(t, filepath.Join(dir, "configs"), pass)
	seedDemo(t, filepath.Join(dir, "cache", "triad", "demo"))
	env := append(withoutTriadEnv(os.Environ()), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "GOCACHE="+gocache,
		"TRIAD_PREPARAMS_GENERATE=false")

	start := time.Now()
	out, err := runScript(t, dir, script, env)
	t.Logf("README walkthrough: %.1fs", time.Since(start).Seconds())
	if err != nil {
		t.Fatalf("README walkthrough failed: %v\n%s%s", err, tail(out, 80), nodeLogs(dir))
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "==> ") {
			t.Log(l) // when each block began
		}
	}
	bin := filepath.Join(dir, "triad")
	checkParserRefuses(t, bin, dir)
	for _, b := range blocks {
		if b.Shell() && b.Illustrative {
			checkIllustrative(t, bin, dir, b)
		}
	}
}

// walkthroughScript is the README's runnable sh blocks as one bash script
// (each block announced, so a failure names it), and the passphrase the
// walkthrough exports. scripts/test.sh is left out: it is the suite.
func walkthroughScript(t *testing.T, blocks []Block) (string, string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("set -eo pipefail\n")
	pass, demo := "", false
	for _, bl := range blocks {
		if !bl.Shell() || bl.Illustrative {
			continue
		}
		fmt.Fprintf(&b, "printf '\\n==> README.md block at line %d (%%s)\\n' \"$(date +%%T)\"\n", bl.Line)
		cmds, err := Commands(bl.Text)
		if err != nil {
			t.Fatalf("README.md block at line %d: %v", bl.Line, err)
		}
		for _, w := range cmds {
			if args, ok := TriadArgs(w); ok && len(args) > 0 && args[0] == "demo" {
				demo = true
			}
			if len(w) == 2 && w[0] == "export" && strings.HasPrefix(w[1], "TRIAD_PASSPHRASE=") {
				pass = strings.TrimPrefix(w[1], "TRIAD_PASSPHRASE=")
			}
		}
		for _, line := range strings.Split(bl.Text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "scripts/test.sh") {
				continue
			}
			b.WriteString(line + "\n")
		}
	}
	if !demo {
		t.Fatal("README.md runs no `triad demo`")
	}
	if pass == "" {
		t.Fatal("README.md exports no TRIAD_PASSPHRASE for the walkthrough")
	}
	return b.String(), pass
}

// runScript runs script with bash in dir, in its own process group, which
// is killed (background nodes included) at the deadline and when the test
// ends.
func runScript(t *testing.T, dir, script string, env []string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	path := filepath.Join(dir, "readme-walkthrough.sh")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "readme-walkthrough.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, "bash", path)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killGroup(t, cmd.Process.Pid) })
	err = cmd.Wait()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w after %v", ctx.Err(), runDeadline)
	}
	out, rerr := os.ReadFile(logPath)
	if rerr != nil {
		t.Fatal(rerr)
	}
	return string(out), err
}

// killGroup kills every process of the group and waits, with one
// deadline, until none is left running, so the temp dir can be removed.
func killGroup(t *testing.T, pgid int) {
	syscall.Kill(-pgid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for groupRunning(pgid) {
		if time.Now().After(deadline) {
			t.Errorf("process group %d still running 10s after SIGKILL", pgid)
			return
		}
		time.Sleep(20 * time.Millisecond) // polling /proc for processes this test does not parent
	}
}

// groupRunning reports whether a process of group pgid is alive and not a
// zombie (orphans are reaped by whatever PID 1 is, perhaps never).
func groupRunning(pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	want := strconv.Itoa(pgid)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // not a process, or gone
		}
		// pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
		_, rest, ok := cutLast(string(b), ")")
		f := strings.Fields(rest)
		if ok && len(f) >= 3 && f[0] != "Z" && f[2] == want {
			return true
		}
	}
	return false
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// checkIllustrative parses each triad command of an illustrative block
// with the built binary (parseTriad).
func checkIllustrative(t *testing.T, bin, dir string, b Block) {
	t.Helper()
	cmds, err := Commands(b.Text)
	if err != nil {
		t.Fatalf("README.md block at line %d: %v", b.Line, err)
	}
	for _, w := range cmds {
		args, ok := TriadArgs(w)
		if !ok {
			t.Errorf("README.md illustrative block at line %d: %q is no triad command, so nothing checks it", b.Line, strings.Join(w, " "))
			continue
		}
		if err := parseTriad(bin, dir, args); err != nil {
			t.Errorf("README.md illustrative block at line %d: %v", b.Line, err)
		}
	}
}

// parseTriad has the binary parse args without running them: `triad ARGS
// --help` fails on an unknown command or flag, and the args must name a
// runnable command, not a command group.
func parseTriad(bin, dir string, args []string) error {
	cmd := exec.Command(bin, append(append([]string(nil), args...), "--help")...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("triad %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	if !runnableUsage(string(out)) {
		return fmt.Errorf("triad %s names no runnable command:\n%s", strings.Join(args, " "), out)
	}
	return nil
}

// The illustrative check can fail: an unknown flag, an unknown command and
// a command group are each refused.
func checkParserRefuses(t *testing.T, bin, dir string) {
	t.Helper()
	for _, args := range [][]string{{"status", "-c", "x.yaml", "--no-such-flag"}, {"no-such-command"}, {"audit"}} {
		if err := parseTriad(bin, dir, args); err == nil {
			t.Errorf("triad %s passed the illustrative check", strings.Join(args, " "))
		}
	}
}

// runnableUsage: cobra's help starts its usage with the command's own use
// line only for a runnable command; a group's first line is "… [command]".
func runnableUsage(help string) bool {
	_, after, ok := strings.Cut(help, "Usage:\n")
	if !ok {
		return false
	}
	first, _, _ := strings.Cut(after, "\n")
	return !strings.HasSuffix(strings.TrimSpace(first), "[command]")
}

// linkRepo links the repository's top-level entries into dir, so that
// `go build ./cmd/triad` and scripts resolve there, except what the
// walkthrough writes or changes (configs are copied).
func linkRepo(t *testing.T, root, dir string) {
	t.Helper()
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		switch n := e.Name(); {
		case n == ".git" || n == "configs" || n == "data" || n == "triad" || strings.HasSuffix(n, ".key") || strings.HasSuffix(n, ".log"):
		default:
			if err := os.Symlink(filepath.Join(root, n), filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

var loopbackPort = regexp.MustCompile(`127\.0\.0\.1(:|/tcp/)([0-9]+)`)

// copyConfigs copies the configs, giving every loopback port of the
// cluster's configs a free one (the same in every file), so the
// walkthrough runs beside other tests.
func copyConfigs(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]string{}
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() != "sample.yaml" {
			b = loopbackPort.ReplaceAllFunc(b, func(m []byte) []byte {
				sub := loopbackPort.FindSubmatch(m)
				p, ok := ports[string(sub[2])]
				if !ok {
					p = freePort(t, &held)
					ports[string(sub[2])] = p
				}
				return []byte("127.0.0.1" + string(sub[1]) + p)
			})
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("walkthrough ports: %v", ports)
}

// freePort reserves a free loopback port: its listener stays open until
// copyConfigs has handed out every port, so no two are the same, and is
// closed before the nodes bind it.
func freePort(t *testing.T, held *[]net.Listener) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	*held = append(*held, l)
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// seedCluster puts one fixture pre-params set into each walkthrough node's
// pool, sealed with the walkthrough's passphrase, before `triad init`.
func seedCluster(t *testing.T, configs, pass string) {
	t.Helper()
	t.Setenv("TRIAD_PASSPHRASE", pass)
	for i, p := range node.DefaultParties {
		cfg, err := daemon.LoadConfig(filepath.Join(configs, p+".yaml"))
		if err != nil {
			t.Fatalf("configs/%s.yaml: %v", p, err)
		}
		s, err := hsm.New(context.Background(), cfg.HSM)
		if err != nil {
			t.Fatalf("the README's TRIAD_PASSPHRASE does not open configs/%s.yaml's sealer: %v", p, err)
		}
		seed(t, &cfg.Config, s, i)
		s.Close()
	}
}

// seedDemo gives `triad demo` cached pre-params, as its first run leaves
// them: a demo passphrase and each node's demo-preparams.sealed.
func seedDemo(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 24)
	rand.Read(raw)
	pass := hex.EncodeToString(raw)
	if err := os.WriteFile(filepath.Join(dir, "demo-passphrase"), []byte(pass), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := hsm.NewLocal([]byte(pass), hsm.Argon2Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, p := range node.DefaultParties {
		cfg := &node.Config{Party: p, DataDir: filepath.Join(dir, p)}
		seed(t, cfg, s, i)
		if err := os.Rename(filepath.Join(cfg.DataDir, "preparams.sealed"), filepath.Join(cfg.DataDir, "demo-preparams.sealed")); err != nil {
			t.Fatal(err)
		}
	}
}

func seed(t *testing.T, cfg *node.Config, s hsm.Sealer, i int) {
	t.Helper()
	if err := os.MkdirAll(cfg.Resolve(cfg.DataDir), 0o700); err != nil {
		t.Fatal(err)
	}
	list, err := fixtures.PreParamsList(i)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.SeedPreParams(context.Background(), cfg, s, list); err != nil {
		t.Fatalf("seeding %s's pre-params: %v", cfg.Party, err)
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// withoutTriadEnv drops the TRIAD_ variables of the test's own
// environment: the walkthrough sets its own.
func withoutTriadEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "TRIAD_") {
			out = append(out, kv)
		}
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// nodeLogs is the tail of every *.log the walkthrough wrote.
func nodeLogs(dir string) string {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var b bytes.Buffer
	for _, l := range logs {
		if filepath.Base(l) == "readme-walkthrough.log" {
			continue
		}
		out, err := os.ReadFile(l)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		fmt.Fprintf(&b, "\n--- %s\n%s", filepath.Base(l), tail(string(out), 30))
	}
	return b.String()
}

// runnableUsage tells a command from a command group by cobra's help.
func TestRunnableUsage(t *testing.T) {
	if !runnableUsage("Sign things\n\nUsage:\n  triad sign --key-id ID [flags]\n") {
		t.Fatal("a runnable command's help refused")
	}
	if runnableUsage("Check the audit chain\n\nUsage:\n  triad audit [command]\n") || runnableUsage("no usage") {
		t.Fatal("a command group's help accepted")
	}
}

// killGroup ends a shell's background jobs too, which outlive the shell
// (the walkthrough's `triad node run … &`).
func TestKillGroupEndsBackgroundJobs(t *testing.T) {
	cmd := exec.Command("bash", "-c", "sleep 60 & sleep 60 & echo started; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("started"))
	if _, err := io.ReadFull(out, buf); err != nil {
		t.Fatal(err)
	}
	if !groupRunning(cmd.Process.Pid) {
		t.Fatal("groupRunning: false for a running group")
	}
	killGroup(t, cmd.Process.Pid)
	if groupRunning(cmd.Process.Pid) {
		t.Fatal("the group still runs after killGroup")
	}
	cmd.Wait()
}
