package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/daemon"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/recovery"
)

// procCluster is three `triad node run` processes with a canary key.
type procCluster struct {
	bin, dir string
	started  map[string]*proc
	cfgs     map[string]string // party → config file
	opKeys   map[string]string // party → operator key file (test seeds)
	pub      string            // canary-1's group key (hex)
}

// startProcCluster inits, seeds and starts the three nodes and makes
// canary-1 by DKG.
func startProcCluster(t *testing.T) *procCluster {
	t.Helper()
	c := &procCluster{bin: buildBinary(t), dir: t.TempDir(), started: map[string]*proc{}, cfgs: map[string]string{}, opKeys: map[string]string{}}
	// Custodian and regulator get a second set: their new shares in the
	// reshare drill.
	pre := map[string][]int{"custodian": {0, 3}, "exchange": {1}, "regulator": {2, 4}}
	for _, p := range node.DefaultParties {
		cfg := writeConfig(t, c.dir, p, c.started)
		if out, errOut, code := triad(t, c.bin, "init", "-c", cfg); code != 0 {
			t.Fatalf("init %s: %d %s %s", p, code, out, errOut)
		}
		seedFixturePreParams(t, cfg, pre[p]...)
	}
	for _, p := range node.DefaultParties {
		c.cfgs[p] = writeConfig(t, c.dir, p, c.started)
		c.started[p] = startNode(t, c.bin, c.cfgs[p])
	}
	out, errOut, code := triad(t, c.bin, "keygen", "-c", c.cfgs["custodian"], "--key-id", "canary-1")
	if code != 0 {
		t.Fatalf("keygen: %d\n%s\n%s", code, out, errOut)
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "public key "); ok {
			c.pub = v
		}
	}
	// The demo operators' keys are test seeds (custody/testdata/policy.yaml).
	names := map[string]string{"custodian": "alice", "exchange": "bob", "regulator": "carol"}
	cfg, err := daemon.LoadConfig(c.cfgs["custodian"])
	if err != nil {
		t.Fatal(err)
	}
	for p, name := range names {
		seed := sha256.Sum256([]byte("triad-test/operator/" + p + "/" + name))
		pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
		if got := cfg.Policy.Operators[custodyParty(p)][0].PublicKey; got != hex.EncodeToString(pub) {
			t.Fatalf("operator %s/%s: test seed does not match the config's key", p, name)
		}
		c.opKeys[p] = filepath.Join(c.dir, name+".key")
		if err := os.WriteFile(c.opKeys[p], []byte(hex.EncodeToString(seed[:])+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// drill runs `triad drill ...` against every node's config.
func (c *procCluster) drill(t *testing.T, args ...string) (string, int) {
	t.Helper()
	args = append([]string{"drill"}, args...)
	args = append(args, "--report-dir", filepath.Join(c.dir, "reports"))
	for _, p := range node.DefaultParties {
		args = append(args, "-c", c.cfgs[p])
	}
	start := time.Now()
	out, errOut, code := triad(t, c.bin, args...)
	t.Logf("triad %s: exit %d in %v\n%s%s", strings.Join(args[:2], " "), code, time.Since(start).Round(time.Millisecond), out, errOut)
	return out + errOut, code
}

var reportLine = regexp.MustCompile(`report: (\S+\.json) `)

// report reads the drill report a drill's output names.
func report(t *testing.T, out string) *recovery.Report {
	t.Helper()
	m := reportLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no report in:\n%s", out)
	}
	b, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	rep, err := recovery.DecodeReport(b)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// chain reads party's audit chain through its API and checks it verifies.
func (c *procCluster) chain(t *testing.T, party string) []audit.Record {
	t.Helper()
	cf := clientFlags{config: c.cfgs[party], role: "admin"}
	cl, err := cf.client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := withTimeout(10 * time.Second)
	defer cancel()
	var st api.AuditStatus
	if err := cl.Do(ctx, "GET", "/v1/audit", nil, &st); err != nil || !st.Verified {
		t.Fatalf("%s's audit chain: %v %+v", party, err, st)
	}
	var recs api.AuditRecords
	if err := cl.Do(ctx, "GET", "/v1/audit/records?limit=5000", nil, &recs); err != nil {
		t.Fatal(err)
	}
	if err := audit.Verify(recs.Records); err != nil {
		t.Fatalf("%s's records: %v", party, err)
	}
	return recs.Records
}

// recorded checks that each party's chain holds the drill report.
func (c *procCluster) recorded(t *testing.T, rep *recovery.Report, parties ...string) {
	t.Helper()
	d := rep.Digest()
	for _, p := range parties {
		found := false
		for _, r := range c.chain(t, p) {
			found = found || r.Kind == service.KindDrill && r.RequestID == "drill/"+rep.Drill+"/"+rep.ID && r.Payload == audit.Digest(d[:]) && r.Party == p
		}
		if !found {
			t.Fatalf("%s's audit chain has no record of drill %s %s", p, rep.Drill, rep.ID)
		}
	}
}

// Every drill against three processes: unseal, all-pairs and an emergency
// unfreeze pass, and each lands on every node's audit chain, which still
// verifies; the reports verify against the pinned peers. With the
// exchange killed, node-loss passes and all-pairs names the failing pairs
// and exits 1.
func TestDrillsThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a DKG")
	}
	c := startProcCluster(t)
	all := node.DefaultParties

	out, code := c.drill(t, "unseal")
	if code != 0 || !strings.Contains(out, "verdict: PASS") {
		t.Fatalf("unseal: exit %d", code)
	}
	c.recorded(t, report(t, out), all...)

	out, code = c.drill(t, "all-pairs", "--key-id", "canary-1")
	if code != 0 || !strings.Contains(out, "verdict: PASS") {
		t.Fatalf("all-pairs: exit %d", code)
	}
	c.recorded(t, report(t, out), all...)

	out, code = c.drill(t, "unfreeze", "--key-id", "canary-1", "--timeout", "90s",
		"--operator-key", "custodian:alice:"+c.opKeys["custodian"], "--operator-key", "exchange:bob:"+c.opKeys["exchange"])
	if code != 0 || !strings.Contains(out, "verdict: PASS") || !strings.Contains(out, "over the canary digest verified") {
		t.Fatalf("unfreeze: exit %d", code)
	}
	rep := report(t, out)
	c.recorded(t, rep, all...)
	m := reportLine.FindStringSubmatch(out)
	if vout, verr, code := triad(t, c.bin, "drill", "verify", m[1], "-c", c.cfgs["regulator"], "--min-signers", "3"); code != 0 || !strings.Contains(vout, "VALID") {
		t.Fatalf("verify unfreeze report: %d %s %s", code, vout, verr)
	}

	// kill -9 the exchange.
	c.started["exchange"].cmd.Process.Signal(syscall.SIGKILL)
	c.started["exchange"].cmd.Wait()
	out, code = c.drill(t, "node-loss", "--party", "exchange", "--key-id", "canary-1")
	if code != 0 || !strings.Contains(out, "verdict: PASS") {
		t.Fatalf("node-loss with the exchange down: exit %d", code)
	}
	c.recorded(t, report(t, out), "custodian", "regulator")

	out, code = c.drill(t, "all-pairs", "--key-id", "canary-1")
	if code != 1 || !strings.Contains(out, "verdict: FAIL") {
		t.Fatalf("all-pairs with the exchange down: exit %d, want 1", code)
	}
	for _, want := range []string{"FAIL custodian+exchange sign a canary", "ok   custodian+regulator sign a canary", "FAIL exchange+regulator sign a canary"} {
		if !strings.Contains(out, want) {
			t.Fatalf("all-pairs output lacks %q", want)
		}
	}
	c.recorded(t, report(t, out), "custodian", "regulator")

	// The exchange's disk is lost: a fresh node (new data dir, new
	// identity, the old host and port) replaces it by a reshare drill.
	c.replaceExchange(t)
}

// replaceExchange starts a fresh exchange node and runs the reshare drill
// to it; every pair then signs, and every node's audit chain holds the
// reshare's steps and the drill.
func (c *procCluster) replaceExchange(t *testing.T) {
	t.Helper()
	others := map[string]*proc{"custodian": c.started["custodian"], "regulator": c.started["regulator"]}
	cfg := writeConfigAt(t, c.dir, "exchange", "exchange2", c.started["exchange"].p2p[0], others)
	if out, errOut, code := triad(t, c.bin, "init", "-c", cfg); code != 0 {
		t.Fatalf("init the fresh exchange: %d %s %s", code, out, errOut)
	}
	seedFixturePreParams(t, cfg, 1)
	c.cfgs["exchange"] = cfg
	c.started["exchange"] = startNode(t, c.bin, cfg)
	newID, err := os.ReadFile(filepath.Join(c.dir, "exchange2", "peer.id"))
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(c.dir, "spec.json")
	if out, errOut, code := triad(t, c.bin, "reshare", "spec", "--id", "drill-replace-exchange", "--key-id", "canary-1", "--replace", "exchange",
		"--new-peer-id", strings.TrimSpace(string(newID)), "--public-key", c.pub, "--out", spec); code != 0 {
		t.Fatalf("reshare spec: %d %s %s", code, out, errOut)
	}
	args := []string{"reshare", "--spec", spec}
	for p, name := range map[string]string{"custodian": "alice", "regulator": "carol"} {
		ap := filepath.Join(c.dir, p+"-approval.json")
		if out, errOut, code := triad(t, c.bin, "reshare", "approve", "--spec", spec, "--party", p, "--operator", name, "--operator-key", c.opKeys[p], "--out", ap); code != 0 {
			t.Fatalf("reshare approve %s: %d %s %s", p, code, out, errOut)
		}
		args = append(args, "--approval", ap)
	}
	// The custodian's old share and salt file, kept aside to stage an
	// undecided reshare.
	oldShare, err := os.ReadFile(c.shareFile("custodian"))
	if err != nil {
		t.Fatal(err)
	}
	oldSalts := c.salts(t, "custodian")
	out, code := c.drill(t, args...)
	if code != 0 || !strings.Contains(out, "verdict: PASS") {
		t.Fatalf("reshare drill: exit %d", code)
	}
	for _, want := range []string{"approvals verified: 2 approval(s)", "reshare complete", "ok   custodian+exchange sign a canary with the new shares", "ok   exchange+regulator sign a canary with the new shares"} {
		if !strings.Contains(out, want) {
			t.Fatalf("reshare drill output lacks %q", want)
		}
	}
	c.recorded(t, report(t, out), node.DefaultParties...)
	// The commit re-keyed the local sealer of every node that took part:
	// a new salt in its salt file, the older ones forgotten.
	for _, p := range []string{"custodian", "regulator", "exchange2"} {
		if st := c.salts(t, p); st.Epoch <= oldSalts.Epoch || len(st.Salts) != 1 {
			t.Fatalf("%s's sealer was not re-keyed by the reshare: epoch %d, %d salt(s)", p, st.Epoch, len(st.Salts))
		}
	}
	for _, p := range node.DefaultParties {
		steps := 0
		for _, r := range c.chain(t, p) {
			if r.Kind == service.KindReshare && r.RequestID == "reshare/drill-replace-exchange" && r.Party == p {
				steps++
			}
		}
		if steps < 5 {
			t.Fatalf("%s's audit chain holds %d steps of the reshare", p, steps)
		}
	}
	// The approvals' nonces outlive a restart: the coordinator, killed and
	// started again, refuses the same approvals. It comes back as if its
	// commit had not happened: the old share in force, the new one
	// pending (the same sealing serves both).
	c.started["custodian"].cmd.Process.Signal(syscall.SIGKILL)
	c.started["custodian"].cmd.Wait()
	// Back on its old address, with its peers' addresses, so they meet again.
	writeConfigAt(t, c.dir, "custodian", "custodian", c.started["custodian"].p2p[0], c.started, map[string]string{"exchange": "exchange2"})
	share := c.shareFile("custodian")
	if err := os.Rename(share, share+".pending"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(share, oldShare, 0o600); err != nil {
		t.Fatal(err)
	}
	// The commit re-keyed the custodian's sealer, so the old share no
	// longer unseals: the salt file gets the old epoch's salt back beside
	// the new one, as between a re-key's Rotate and Retire, so that both
	// the old share and the pending one (rewrapped) open.
	newSalts := c.salts(t, "custodian")
	for e, salt := range oldSalts.Salts {
		newSalts.Salts[e] = salt
	}
	c.writeSalts(t, "custodian", newSalts)
	// The share generation record as an uncommitted reshare leaves it: the
	// old share (generation 1) in force, the new one (2) pending.
	if err := os.WriteFile(strings.TrimSuffix(share, ".share")+".gen", []byte(`{"share":1,"pending":2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c.started["custodian"] = startNode(t, c.bin, c.cfgs["custodian"])
	run := append([]string{"reshare", "run", "-c", c.cfgs["custodian"]}, args[1:]...)
	if out, errOut, code := triad(t, c.bin, run...); code != 1 || !strings.Contains(errOut, "already used") {
		t.Fatalf("replayed reshare approvals after a restart: exit %d %s %s", code, out, errOut)
	}
	c.resolveUndecided(t)
}

// saltFile is the contents of a node's local salt file (hsm/local_rekey.go).
type saltFile struct {
	Epoch int            `json:"epoch"`
	Salts map[int][]byte `json:"salts"`
}

// salts reads the salt file of the node with data dir dataDir; a missing
// file is epoch 0, whose salt is empty.
func (c *procCluster) salts(t *testing.T, dataDir string) saltFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, dataDir+".salt"))
	if errors.Is(err, os.ErrNotExist) {
		return saltFile{Salts: map[int][]byte{0: nil}}
	}
	if err != nil {
		t.Fatal(err)
	}
	var st saltFile
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (c *procCluster) writeSalts(t *testing.T, dataDir string, st saltFile) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, dataDir+".salt"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// shareFile is party's sealed share of canary-1.
func (c *procCluster) shareFile(party string) string {
	return filepath.Join(filepath.Dir(c.cfgs[party]), party, "keys", "canary-1.share")
}

// resolveUndecided: the custodian's reshare is undecided. The unseal
// drill says so; `reshare resolve` sees the other two hold the pending
// committee in force and commits it at the custodian; every pair signs.
func (c *procCluster) resolveUndecided(t *testing.T) {
	t.Helper()
	out, code := c.drill(t, "unseal")
	if code != 1 || !strings.Contains(out, "a reshare is undecided here") {
		t.Fatalf("unseal drill with an undecided reshare: exit %d", code)
	}
	status := func() string {
		out, errOut, code := triad(t, c.bin, "status", "-c", c.cfgs["custodian"])
		if code != 0 {
			t.Fatalf("status: %d %s %s", code, out, errOut)
		}
		return out
	}
	if out := status(); !strings.Contains(out, "UNDECIDED  reshare of [canary-1]") {
		t.Fatalf("status does not show the undecided reshare:\n%s", out)
	}
	args := []string{"reshare", "resolve", "--key-id", "canary-1"}
	for _, p := range node.DefaultParties {
		args = append(args, "-c", c.cfgs[p])
	}
	rout, rerr, rcode := triad(t, c.bin, append(args, "--dry-run")...)
	if rcode != 0 || !strings.Contains(rout, "custodian would commit") {
		t.Fatalf("reshare resolve --dry-run: %d\n%s%s", rcode, rout, rerr)
	}
	rout, rerr, rcode = triad(t, c.bin, args...)
	t.Logf("triad reshare resolve: exit %d\n%s%s", rcode, rout, rerr)
	if rcode != 0 || !strings.Contains(rout, "custodian: pending share committed") {
		t.Fatalf("reshare resolve: exit %d", rcode)
	}
	if out := status(); strings.Contains(out, "UNDECIDED") {
		t.Fatalf("status after resolving:\n%s", out)
	}
	out, code = c.drill(t, "all-pairs", "--key-id", "canary-1")
	if code != 0 || !strings.Contains(out, "verdict: PASS") {
		t.Fatalf("all-pairs after resolving: exit %d", code)
	}
	// Having signed with both, the custodian knows each peer's protocol
	// versions from its hello (../shared/SECURITY.md scenario 35).
	out = status()
	for _, want := range []string{"protocol   1..3\n", "exchange   connected, protocol 3 (it speaks 1..3)", "regulator  connected, protocol 3 (it speaks 1..3)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status lacks %q:\n%s", want, out)
		}
	}
	found := false
	for _, r := range c.chain(t, "custodian") {
		found = found || r.Kind == service.KindReshare && r.RequestID == "reshare/undecided-canary-1"
	}
	if !found {
		t.Fatal("the resolution is not on the custodian's audit chain")
	}
}

func custodyParty(p string) custody.Party { return custody.Party(p) }
