package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/tss/fixtures"
)

// The README's custody walkthrough (issue 14) in process: `request
// --quiet` prints only the ID, two operators approve the canary request
// (../shared/SECURITY.md scenarios 9 and 33), and `requests show --wait` follows it
// to done and prints its signature; an unapproved one is still open at the
// deadline, and that is an error.
func TestWalkthroughCanaryRequest(t *testing.T) {
	// The operator's CLI signs approvals with the wall clock.
	c := st.New(t, st.Options{Start: time.Now().UTC().Truncate(time.Millisecond), Policy: func(_ custody.Party, pol *custody.Policy) {
		pol.Keys = []custody.KeyConfig{{ID: fixtures.KeyID, Role: custody.RoleCanary}}
		pol.Accounts = nil
	}})
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	addr, tok := serveCustody(t, c, file)
	as := func(p custody.Party, role string) []string {
		return []string{"--api", addr[p], "--token-file", tok[role]}
	}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("triad %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	request := func(idem string) string {
		out := run(append([]string{"request", "--quiet", "--kind", "canary", "--idempotency-key", idem, "--key-id", fixtures.KeyID,
			"--digest", "4cab26490b8e28d62464011d43086f3996976edd7e220bd687d112c47e4723a1", "--reason", "walkthrough drill"},
			as(custody.Exchange, "operator")...)...)
		if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).MatchString(out) {
			t.Fatalf("request --quiet printed %q, want the ID alone", out)
		}
		return strings.TrimSpace(out)
	}
	id := request("drill-2")
	for _, p := range []custody.Party{custody.Custodian, custody.Regulator} {
		key := file(string(p)+".key", hexSeed(p))
		run(append([]string{"approve", id, "--party", string(p), "--operator", st.OperatorNames[p], "--operator-key", key},
			as(p, "operator")...)...)
	}
	var v service.View
	out := run(append([]string{"requests", "show", id, "--wait", "30s"}, as(custody.Custodian, "auditor")...)...)
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Status != custody.StatusDone || v.Result == nil ||
		len(v.Result.Signatures) != 1 || hex.EncodeToString(v.Result.Signatures[0].Digest[:]) != v.Request.Digest {
		t.Fatalf("requests show --wait: %v\n%s", err, out)
	}

	open := request("drill-3")
	_, _, err := runCLI(t, append([]string{"requests", "show", open, "--wait", "300ms"}, as(custody.Custodian, "auditor")...)...)
	if err == nil || !strings.Contains(err.Error(), "still proposed") {
		t.Fatalf("an unapproved request at the deadline: %v", err)
	}
	_, _, err = runCLI(t, append([]string{"requests", "--wait", "1s"}, as(custody.Custodian, "auditor")...)...)
	var ue userError
	if !errors.As(err, &ue) {
		t.Fatalf("--wait without show: %v, want the caller's mistake", err)
	}
}

func hexSeed(p custody.Party) string { return hex.EncodeToString(st.OperatorKey(p).Seed()) }

// `status --wait` returns once the node answers ready with its peers
// connected, and fails when no node answers before the deadline.
func TestStatusWait(t *testing.T) {
	c := st.New(t, st.Options{})
	dir := t.TempDir()
	addr, tok := serveCustody(t, c, func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	})
	out, _, err := runCLI(t, "status", "--api", addr[custody.Custodian], "--token-file", tok["admin"], "--wait", "30s")
	if err != nil || !strings.Contains(out, "party      custodian (ready)") {
		t.Fatalf("status --wait: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	_, _, err = runCLI(t, "status", "--api", down, "--token-file", tok["admin"], "--wait", "300ms")
	if err == nil || !strings.Contains(err.Error(), "after waiting 300ms") {
		t.Fatalf("status --wait on a node that is down: %v", err)
	}
}

// `triad init` with a passphrase under 12 bytes (the README's old
// example) is the caller's mistake, exit 1, and says how long it must be;
// it writes no identity (issue 14).
func TestInitShortPassphrase(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "custodian", nil)
	t.Setenv("TRIAD_PASSPHRASE", "change-me")
	_, _, err := runCLI(t, "init", "-c", cfg)
	var ue userError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "at least 12 bytes") {
		t.Fatalf("init with a 9-byte passphrase: %v, want the caller's mistake naming the 12-byte rule", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "custodian", "identity.sealed")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an identity was written: %v", err)
	}
}

// What `status --wait` waits for: ready, both peers connected, and the
// first pre-params of a node that is making them (keygen refuses to
// propose without one; the README's walkthrough runs keygen next).
func TestStatusSettled(t *testing.T) {
	peers := []api.PeerStatus{{Party: "exchange", Connected: true}, {Party: "regulator", Connected: true}}
	for _, c := range []struct {
		name string
		st   api.Status
		want bool
	}{
		{"settled", api.Status{Ready: true, Peers: peers, PreParams: api.PreParams{Ready: 1, Target: 2}}, true},
		{"generating none, pool of one", api.Status{Ready: true, Peers: peers, PreParams: api.PreParams{Ready: 1, Running: 1}}, true},
		{"generating the first", api.Status{Ready: true, Peers: peers, PreParams: api.PreParams{Running: 1, Target: 2}}, false},
		{"generating nothing", api.Status{Ready: true, Peers: peers}, true},
		{"not ready", api.Status{Peers: peers, PreParams: api.PreParams{Ready: 1}}, false},
		{"a peer down", api.Status{Ready: true, Peers: []api.PeerStatus{peers[0], {Party: "regulator"}}, PreParams: api.PreParams{Ready: 1}}, false},
		{"no peers listed", api.Status{Ready: true, PreParams: api.PreParams{Ready: 1}}, false},
	} {
		if got := settled(c.st); got != c.want {
			t.Errorf("%s: settled = %v, want %v", c.name, got, c.want)
		}
	}
}
