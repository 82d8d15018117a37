package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/api"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

const testPassphrase = "process-test-passphrase-not-secret"

// buildBinary compiles triad once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "triad")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type proc struct {
	cmd    *exec.Cmd
	cfg    string
	p2p    []string
	api    string
	stderr *bytes.Buffer
}

func writeConfig(t *testing.T, dir, party string, started map[string]*proc) string {
	t.Helper()
	var peers strings.Builder
	for _, o := range node.DefaultParties {
		if o == party {
			continue
		}
		fmt.Fprintf(&peers, "  - party: %s\n    peer_id_file: %s/peer.id\n", o, o)
		if p, ok := started[o]; ok {
			fmt.Fprintf(&peers, "    addrs: [%s]\n", strings.Join(p.p2p, ", "))
		}
	}
	y := fmt.Sprintf(`party: %[1]s
data_dir: %[1]s
p2p: {listen: [/ip4/127.0.0.1/tcp/0]}
peers:
%[2]sapi:
  listen: 127.0.0.1:0
  credentials: [{name: admin, role: admin, token_file: %[1]s/admin.token}]
sessions: {sign_timeout: 8s, keygen_timeout: 3m}
preparams: {target: 1, concurrency: 1, generate: false}
hsm: {backend: local, local: {passphrase_env: TRIAD_PASSPHRASE}}
policy:
  party: %[1]s
  keys: [{id: canary-1, role: canary}, {id: vault-1, role: custody}]
  operators:
    custodian: [{name: alice, public_key: 43f24f97b86dbb8cec4a4ce5d939c248bc57786d02039c0e9a581c5550120ae7}]
    exchange: [{name: bob, public_key: 7e8aea5a283ba9428634fc035b4b3a58e0c6ec1ca887c6c6fa1954504e017c18}]
    regulator: [{name: carol, public_key: 7cd9562ba0913debaaabb9753d86da8ac148de058b06094270834eb7edf63efa}]
log: {level: info}
`, party, peers.String())
	path := filepath.Join(dir, party+".yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func triad(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "TRIAD_PASSPHRASE="+testPassphrase)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("triad %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// startNode runs `triad node run` and waits, with one deadline, for the
// lines announcing its addresses.
func startNode(t *testing.T, bin, cfg string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "node", "run", "-c", cfg)
	cmd.Env = append(os.Environ(), "TRIAD_PASSPHRASE="+testPassphrase)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, cfg: cfg, stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(cfg), p.stderr.String())
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for p.api == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("%s exited early: %s", cfg, p.stderr.String())
			}
			if a, ok := strings.CutPrefix(l, "p2p "); ok {
				p.p2p = append(p.p2p, a[:strings.Index(a, "/p2p/")])
			}
			if a, ok := strings.CutPrefix(l, "api "); ok {
				p.api = a
			}
		case <-deadline.C:
			t.Fatalf("%s did not announce its API in time", cfg)
		}
	}
	return p
}

// seedFixturePreParams puts one fixture pre-params set into each node's
// sealed pool, so the processes need not spend minutes on safe primes.
func seedFixturePreParams(t *testing.T, cfgPath string, i int) {
	t.Helper()
	t.Setenv("TRIAD_PASSPHRASE", testPassphrase)
	cfg, err := node.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := hsm.New(context.Background(), cfg.HSM)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, err := fixtures.PreParamsList(i)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.SeedPreParams(context.Background(), cfg, s, list); err != nil {
		t.Fatal(err)
	}
}

// Three OS processes of the built binary on random ports: keygen and
// signatures through the running nodes; one killed, the other two sign;
// two killed, a clean error within the deadline.
func TestThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a DKG")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	started := map[string]*proc{}
	for i, p := range node.DefaultParties {
		cfg := writeConfig(t, dir, p, started)
		if out, errOut, code := triad(t, bin, "init", "-c", cfg); code != 0 || !strings.Contains(out, "peer id") {
			t.Fatalf("init %s: %d %s %s", p, code, out, errOut)
		}
		seedFixturePreParams(t, cfg, i)
	}
	// Each node starts knowing the addresses of those already up; the
	// rest dial in.
	for _, p := range node.DefaultParties {
		started[p] = startNode(t, bin, writeConfig(t, dir, p, started))
	}
	// Scenario 24: a running node cannot write a core dump.
	if lim, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", started["custodian"].cmd.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(lim), "\n") {
			// Soft and hard limits: the hard one is unlimited by default here.
			if f := strings.Fields(l); strings.HasPrefix(l, "Max core file size") && (f[4] != "0" || f[5] != "0") {
				t.Fatalf("node may dump core: %q", l)
			}
		}
	}
	cust := started["custodian"].cfg
	out, errOut, code := triad(t, bin, "keygen", "-c", cust, "--key-id", "canary-1")
	if code != 0 {
		t.Fatalf("keygen: %d\n%s\n%s", code, out, errOut)
	}
	var pubHex string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "public key "); ok {
			pubHex = v
		}
	}
	pubBytes, _ := hex.DecodeString(pubHex)
	pub, err := btcec.ParsePubKey(pubBytes)
	if err != nil {
		t.Fatalf("keygen printed no public key: %q", out)
	}
	sign := func(cfg, label string) (api.SignResponse, string, int) {
		d := tss.DeriveSessionID(tss.Sign, []byte(label)) // any 32 bytes
		out, errOut, code := triad(t, bin, "sign", "-c", cfg, "--key-id", "canary-1", "--digest", hex.EncodeToString(d[:]))
		var res api.SignResponse
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("sign output: %v: %s", err, out)
			}
			verifyHex(t, pub, d, res)
		}
		return res, errOut, code
	}
	for _, p := range node.DefaultParties {
		if _, errOut, code := sign(started[p].cfg, "from "+p); code != 0 {
			t.Fatalf("sign via %s: %d %s", p, code, errOut)
		}
	}
	// The raw path is refused for a custody key by policy, before any
	// session: the key does not even need to exist for the refusal.
	d := tss.DeriveSessionID(tss.Sign, []byte("custody"))
	if _, errOut, code := triad(t, bin, "sign", "-c", cust, "--key-id", "vault-1", "--digest", hex.EncodeToString(d[:])); code == 0 {
		t.Fatalf("raw signing with a custody key succeeded: %s", errOut)
	}
	// kill -9 the regulator: the other two still sign.
	started["regulator"].cmd.Process.Signal(syscall.SIGKILL)
	started["regulator"].cmd.Wait()
	res, errOut, code := sign(cust, "regulator dead")
	if code != 0 {
		t.Fatalf("sign with the regulator down: %d %s", code, errOut)
	}
	if strings.Join(res.Signers, "+") != "custodian+exchange" {
		t.Fatalf("signed by %v", res.Signers)
	}
	// kill -9 the exchange too: a clean error, well within the deadline.
	started["exchange"].cmd.Process.Signal(syscall.SIGKILL)
	started["exchange"].cmd.Wait()
	start := time.Now()
	_, errOut, code = sign(cust, "two dead")
	if code == 0 || !strings.Contains(errOut, "no signer pair") {
		t.Fatalf("two down: exit %d, %s", code, errOut)
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Fatalf("two down took %v, deadline 8s", el)
	}
}

func verifyHex(t *testing.T, pub *btcec.PublicKey, d [32]byte, res api.SignResponse) {
	t.Helper()
	r, _ := new(big.Int).SetString(res.R, 16)
	s, _ := new(big.Int).SetString(res.S, 16)
	if !verifyBtcec(pub, &tss.Signature{R: r, S: s, Digest: d}) {
		t.Fatalf("signature by %v does not verify", res.Signers)
	}
}
