package custody_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/triad-custody/triad/custody"
)

// The scenario harness simulates the three nodes, each with its own policy,
// clock, stopwatch, clock monitor, nonce store and per-request progress.
// Messages (requests, approvals, automatic endorsements) reach every node
// at once.

var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func seedKey(name string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("triad-test/" + name))
	return ed25519.NewKeyFromSeed(s[:])
}

var operatorNames = map[custody.Party]string{custody.Custodian: "alice", custody.Exchange: "bob", custody.Regulator: "carol"}

func operatorKey(p custody.Party) ed25519.PrivateKey {
	return seedKey("operator/" + string(p) + "/" + operatorNames[p])
}

type node struct {
	party       custody.Party
	policy      custody.Policy
	clock       *custody.FakeClock
	watch       *custody.Stopwatch
	monitor     *custody.ClockMonitor
	nonces      *custody.MemNonceStore
	progress    map[string]*custody.Progress // by request alias
	settlements map[string]int
	exposure    map[string]uint64
}

type harness struct {
	t        *testing.T
	nodes    map[custody.Party]*node
	reqs     map[string]custody.Request
	aliases  []string
	last     custody.Approval
	lastReq  string
	nonceSeq int
}

func loadPolicy(t testing.TB) custody.Policy {
	t.Helper()
	b, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var p custody.Policy
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decoding testdata/policy.yaml: %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("testdata/policy.yaml: %v", err)
	}
	return p
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, nodes: map[custody.Party]*node{}, reqs: map[string]custody.Request{}}
	for _, p := range custody.Parties {
		pol := loadPolicy(t)
		pol.Party = p
		switch p {
		case custody.Exchange:
			pol.RequireZeroExposure = true
		case custody.Regulator:
			pol.AutoApprove = nil
		}
		c := custody.NewFakeClock(epoch)
		h.nodes[p] = &node{
			party: p, policy: pol, clock: c, watch: custody.NewStopwatch(c),
			monitor: custody.NewClockMonitor(c, time.Minute), nonces: custody.NewMemNonceStore(),
			progress: map[string]*custody.Progress{}, settlements: map[string]int{},
			exposure: map[string]uint64{"acct-1": 0, "acct-2": 0},
		}
		h.nodes[p].watch.Lap()
	}
	return h
}

// run executes one script command; a malformed command fails the test.
func (h *harness) run(cmd string, pos []string, kv map[string]string) string {
	var out string
	var err error
	switch cmd {
	case "propose":
		out, err = h.propose(pos, kv)
	case "approve", "veto":
		out, err = h.approve(custody.Stance(cmd), pos, kv)
	case "deliver", "replay":
		out, err = h.deliver(h.last, kv)
	case "alter":
		out, err = h.alter(kv)
	case "evaluate":
		out, err = h.evaluate(pos)
	case "step":
		out, err = h.step(pos, kv)
	case "sign":
		out, err = h.sign(pos, kv)
	case "outcome":
		out, err = h.outcome(pos, kv)
	case "transition":
		out, err = h.transition(pos)
	case "advance":
		out, err = h.advance(pos, false)
	case "pause":
		out, err = h.advance(pos, true)
	case "jump":
		out, err = h.jump(pos)
	case "clocks":
		out = h.clocks()
	case "status":
		out, err = h.status(pos)
	case "exposure":
		out, err = h.setExposure(pos)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		h.t.Fatalf("%s: %v", cmd, err)
	}
	return out
}

func (h *harness) parties(names []string) ([]custody.Party, error) {
	if len(names) == 0 || names[0] == "all" {
		return custody.Parties, nil
	}
	var out []custody.Party
	for _, n := range names {
		p := custody.Party(n)
		if !p.Valid() {
			return nil, fmt.Errorf("unknown party %q", n)
		}
		out = append(out, p)
	}
	return out, nil
}

func (h *harness) request(alias string) (custody.Request, error) {
	r, ok := h.reqs[alias]
	if !ok {
		return r, fmt.Errorf("unknown request %q", alias)
	}
	return r, nil
}

func num(kv map[string]string, key string, def uint64) uint64 {
	if s, ok := kv[key]; ok {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			panic(fmt.Sprintf("bad %s=%q", key, s))
		}
		return n
	}
	return def
}

func str(kv map[string]string, key, def string) string {
	if s, ok := kv[key]; ok {
		return s
	}
	return def
}

func dur(kv map[string]string, key string, def time.Duration) time.Duration {
	if s, ok := kv[key]; ok {
		d, err := time.ParseDuration(s)
		if err != nil {
			panic(fmt.Sprintf("bad %s=%q", key, s))
		}
		return d
	}
	return def
}

func (h *harness) nextNonce(prefix string) string {
	h.nonceSeq++
	return fmt.Sprintf("%s-%016d", prefix, h.nonceSeq)
}

func sortedParties(m map[custody.Party]custody.Endorsement) string {
	var s []string
	for p, e := range m {
		who := string(p) + "/" + e.Operator
		if e.Auto {
			who = string(p) + "/auto"
		}
		s = append(s, who)
	}
	sort.Strings(s)
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}
