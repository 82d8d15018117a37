package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss/fixtures"
)

// Helpers shared by the tests that run the built binary as three OS
// processes (process_test.go, drill_process_test.go).

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

// writeConfig writes party's config in dir, its data dir dir/party.
func writeConfig(t *testing.T, dir, party string, started map[string]*proc) string {
	t.Helper()
	return writeConfigAt(t, dir, party, party, "", started)
}

// writeConfigAt writes party's config as dir/<dataDir>.yaml with data dir
// dir/<dataDir> (a replacement node gets a fresh one). Peers are found by
// the peer.id files in their own data dirs (peerDirs, default the party
// name) and, once started, their addresses. listen is the p2p address
// ("" for 127.0.0.1, port 0). The local sealer's salt file is
// dir/<dataDir>.salt, outside the data dir, as in configs/*.yaml, so a
// reshare re-keys it. The policy has a canary
// account with a 2s canary notice period (the unfreeze drill) and each
// node an operator credential.
func writeConfigAt(t *testing.T, dir, party, dataDir, listen string, started map[string]*proc, peerDirs ...map[string]string) string {
	t.Helper()
	dirs := map[string]string{}
	if len(peerDirs) > 0 {
		dirs = peerDirs[0]
	}
	y := nodeYAMLHead(party, dataDir, listen, peersYAML(party, started, dirs), "8s", "admin", "operator") + fmt.Sprintf(`policy:
  party: %[1]s
  keys: [{id: canary-1, role: canary}, {id: vault-1, role: custody}]
  canary_notice_period: 2s
  accounts: [{id: canary-acct, key_id: canary-1, owner_address: bcrt1qqz7uva24ykly7sjdp9q3wjk3xqdvkne9d20ael}]
  assets: [{symbol: BTC, decimals: 8, max_amount: 100000, collateral_factor_bps: 10000}]
`+operatorsYAML+`log: {level: info}
`, party)
	path := filepath.Join(dir, dataDir+".yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// peersYAML is the peers section of party's config in a process test:
// each other party's peer ID file in its data dir (dirs[o], else o) and,
// once it runs, its listening addresses.
func peersYAML(party string, started map[string]*proc, dirs map[string]string) string {
	var peers strings.Builder
	for _, o := range node.DefaultParties {
		if o == party {
			continue
		}
		pd := o
		if dirs[o] != "" {
			pd = dirs[o]
		}
		fmt.Fprintf(&peers, "  - party: %s\n    peer_id_file: %s/peer.id\n", o, pd)
		if p, ok := started[o]; ok {
			fmt.Fprintf(&peers, "    addrs: [%s]\n", strings.Join(p.p2p, ", "))
		}
	}
	return peers.String()
}

// nodeYAMLHead is a process test's node config up to its policy: data
// dir, p2p (listen "": any loopback port), peers, the API with a token per
// role, sessions, pre-params from the fixtures and the local sealer.
func nodeYAMLHead(party, dataDir, listen, peers, signTimeout string, roles ...string) string {
	if listen == "" {
		listen = "/ip4/127.0.0.1/tcp/0"
	}
	var creds strings.Builder
	for _, r := range roles {
		fmt.Fprintf(&creds, "    - {name: %[2]s, role: %[2]s, token_file: %[1]s/%[2]s.token}\n", dataDir, r)
	}
	return fmt.Sprintf(`party: %[1]s
data_dir: %[2]s
p2p: {listen: [%[3]s]}
peers:
%[4]sapi:
  listen: 127.0.0.1:0
  credentials:
%[5]ssessions: {sign_timeout: %[6]s, keygen_timeout: 3m}
preparams: {target: 1, concurrency: 1, generate: false}
hsm: {backend: local, local: {passphrase_env: TRIAD_PASSPHRASE, salt_file: %[2]s.salt}}
`, party, dataDir, listen, peers, creds.String(), signTimeout)
}

// operatorsYAML is the test operators' keys of every party's policy.
const operatorsYAML = `  operators:
    custodian: [{name: alice, public_key: 43f24f97b86dbb8cec4a4ce5d939c248bc57786d02039c0e9a581c5550120ae7}]
    exchange: [{name: bob, public_key: 7e8aea5a283ba9428634fc035b4b3a58e0c6ec1ca887c6c6fa1954504e017c18}]
    regulator: [{name: carol, public_key: 7cd9562ba0913debaaabb9753d86da8ac148de058b06094270834eb7edf63efa}]
`

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

// seedFixturePreParams puts fixture pre-params sets into a node's
// sealed pool, so the processes need not spend minutes on safe primes.
func seedFixturePreParams(t *testing.T, cfgPath string, i ...int) {
	t.Helper()
	t.Setenv("TRIAD_PASSPHRASE", testPassphrase)
	cfg, err := loadNodeConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := hsm.New(context.Background(), cfg.HSM)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, err := fixtures.PreParamsList(i...)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.SeedPreParams(context.Background(), cfg, s, list); err != nil {
		t.Fatal(err)
	}
}
