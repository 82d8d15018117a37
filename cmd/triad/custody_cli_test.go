package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// runCLI runs one command with separate stdout and stderr.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// serveCustody serves each member's API on a loopback test server, with
// one token per role (written by file); it returns their addresses and
// token files by role.
func serveCustody(t *testing.T, c *st.Cluster, file func(name, content string) string) (map[custody.Party]string, map[string]string) {
	t.Helper()
	roles := []string{"operator", "margin-engine", "auditor", "admin"}
	tok := map[string]string{}
	for _, r := range roles {
		tok[r] = file(r+".tok", r+"-token-0123456789abcdef")
	}
	addr := map[custody.Party]string{}
	for _, p := range custody.Parties {
		m := c.Members[p]
		var creds []api.Credential
		for _, r := range roles {
			creds = append(creds, api.Credential{Name: r + "-1", Role: r, TokenFile: tok[r]})
		}
		srv, err := api.New(m.Runtime, api.Options{Config: api.Config{Credentials: creds}, Custody: m.Svc})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		addr[p] = strings.TrimPrefix(hs.URL, "http://")
	}
	return addr, tok
}

// The custody commands against three in-process nodes' APIs: request,
// approve (twice), requests list/show, audit verify, margin-sim, and an
// emergency unfreeze opened by request and stopped by veto. No command
// prints a key.
func TestCustodyCommands(t *testing.T) {
	c := st.New(t, st.Options{Start: time.Now().UTC().Truncate(time.Millisecond),
		Policy: func(_ custody.Party, pol *custody.Policy) { pol.SettlementsPerDay = 10 }})
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	addr, tok := serveCustody(t, c, file)
	keys := map[custody.Party]string{}
	var secrets []string
	for _, p := range custody.Parties {
		seed := hex.EncodeToString(st.OperatorKey(p).Seed())
		secrets = append(secrets, seed)
		keys[p] = file(string(p)+".key", seed)
	}
	meSeed := hex.EncodeToString(st.MarginKey().Seed())
	secrets = append(secrets, meSeed)
	meKey := file("margin.key", meSeed)
	run := func(args ...string) (string, string) {
		t.Helper()
		out, errOut, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("triad %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		for _, s := range secrets {
			if strings.Contains(out+errOut, s) {
				t.Fatalf("triad %s printed a key", args[0])
			}
		}
		return out, errOut
	}
	as := func(p custody.Party, role string) []string {
		return []string{"--api", addr[p], "--token-file", tok[role]}
	}
	op := func(p custody.Party) []string {
		return []string{"--party", string(p), "--operator", st.OperatorNames[p], "--operator-key", keys[p]}
	}
	fields := []string{"--account", st.Account, "--key-id", "fixture", "--child-path", st.ChildPath, "--asset", "BTC",
		"--destination", st.OwnerAddress, "--amount", "1500", "--fee-rate", "5"}

	out, _ := run(append(append([]string{"request", "--kind", "collateral_release", "--idempotency-key", "cli-rel"}, as(custody.Exchange, "operator")...), fields...)...)
	var v service.View
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Status != custody.StatusProposed {
		t.Fatalf("request: %v %q", err, out)
	}
	run(append(append([]string{"approve", v.ID}, as(custody.Exchange, "operator")...), op(custody.Exchange)...)...)
	c.WaitFor(t, custody.Custodian, v.ID, "exchange approval", func(v service.View) bool { return len(v.Approvals) == 1 })
	run(append(append([]string{"approve", v.ID}, as(custody.Custodian, "operator")...), op(custody.Custodian)...)...)
	c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusDone)
	if out, _ = run(append([]string{"requests"}, as(custody.Exchange, "auditor")...)...); !strings.Contains(out, v.ID[:12]) || !strings.Contains(out, "done") {
		t.Fatalf("requests: %s", out)
	}
	if out, _ = run(append([]string{"requests", "show", v.ID}, as(custody.Custodian, "auditor")...)...); !strings.Contains(out, `"complete": true`) {
		t.Fatalf("requests show: %s", out)
	}
	if out, _ = run(append([]string{"audit", "verify"}, as(custody.Regulator, "auditor")...)...); !strings.Contains(out, "audit chain OK") {
		t.Fatalf("audit verify: %s", out)
	}
	out, _ = run(append([]string{"margin-sim", "--key", meKey, "--account", st.Account, "--key-id", "fixture", "--child-path", st.ChildPath,
		"--destination", st.LiquidationAddress, "--amount", "100000", "--wait", "30s"}, as(custody.Exchange, "margin-engine")...)...)
	if !strings.Contains(out, " done ") && !strings.HasSuffix(strings.TrimSpace(out), "done") {
		t.Fatalf("margin-sim: %s", out)
	}

	out, _ = run(append(append(append([]string{"request", "--kind", "emergency_unfreeze", "--idempotency-key", "cli-uf", "--reason", "drill"},
		as(custody.Custodian, "operator")...), fields...), op(custody.Custodian)...)...)
	var uf service.View
	if err := json.Unmarshal([]byte(out), &uf); err != nil || len(uf.Approvals) != 1 {
		t.Fatalf("unfreeze: %v %q", err, out)
	}
	c.WaitFor(t, custody.Regulator, uf.ID, "opening approval", func(v service.View) bool { return len(v.Approvals) == 1 })
	run(append(append([]string{"veto", uf.ID}, as(custody.Regulator, "operator")...), op(custody.Regulator)...)...)
	c.WaitStatus(t, custody.Custodian, uf.ID, custody.StatusVetoed)

	// The caller's mistakes are exit-1 errors.
	_, _, err := runCLI(t, append([]string{"approve", uf.ID, "--party", "nobody"}, as(custody.Custodian, "operator")...)...)
	var ue userError
	if err == nil || !errors.As(err, &ue) {
		t.Fatalf("bad party: %v", err)
	}
}
