package main

import (
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/holdings/holdingstest"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node/nodetest"
)

// Issue 13 through the CLI against three in-process nodes: the custodian
// signs a snapshot, `proof get` fetches an account's proof and `proof
// verify` checks it offline; `holdings view` shows a node's own view and
// `holdings reconcile` names the node whose view differs (exit 1).
func TestHoldingsCommands(t *testing.T) {
	c, chains := holdingstest.Cluster(t, st.Options{})
	dir := t.TempDir()
	tok := map[string]string{}
	for _, r := range []string{"admin", "auditor"} {
		tok[r] = filepath.Join(dir, r+".tok")
		os.WriteFile(tok[r], []byte(r+"-token-0123456789abcdef\n"), 0o600)
	}
	addr := map[custody.Party]string{}
	for _, p := range custody.Parties {
		m := c.Members[p]
		var creds []api.Credential
		for r, f := range tok {
			creds = append(creds, api.Credential{Name: r + "-1", Role: r, TokenFile: f})
		}
		view := holdingstest.View(chains[p])
		rec := &holdings.Reconciler{Party: string(p), View: view, Net: m.Node, Audit: m.Svc.Store().Audit(), Now: m.Clock.Now,
			Incidents: m.Node, Log: slog.New(slog.DiscardHandler)}
		rec.Start()
		o := api.Options{Config: api.Config{Credentials: creds}, Custody: m.Svc, HoldingsView: &view, Reconciler: rec}
		if p == custody.Custodian {
			o.Holdings = holdingstest.Attester(c, chains)
		}
		srv, err := api.New(m.Runtime, o)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		addr[p] = strings.TrimPrefix(hs.URL, "http://")
	}
	as := func(p custody.Party, role string) []string {
		return []string{"--api", addr[p], "--token-file", tok[role]}
	}
	run := func(args ...string) (string, error) {
		t.Helper()
		out, errOut, err := runCLI(t, args...)
		return out + errOut, err
	}
	out, err := run(append([]string{"holdings", "snapshot", "--json=false"}, as(custody.Custodian, "admin")...)...)
	if err != nil || !strings.Contains(out, "signed snapshot") || !strings.Contains(out, "over 2 leaves") {
		t.Fatalf("holdings snapshot: %v\n%s", err, out)
	}
	proof, err := run(append([]string{"proof", "get", "--account", "acct-2"}, as(custody.Custodian, "auditor")...)...)
	if err != nil {
		t.Fatalf("proof get: %v\n%s", err, proof)
	}
	file := filepath.Join(dir, "acct-2.json")
	os.WriteFile(file, []byte(proof), 0o600)
	pub, _ := nodetest.Share(t, "regulator").PublicKey()
	out, err = run("proof", "verify", "--json=false", "--group-key-file=", "--account", "acct-2", "--proof", file,
		"--group-key", hex.EncodeToString(pub.SerializeCompressed()))
	if err != nil || !strings.Contains(out, "proof verifies: account acct-2") || !strings.Contains(out, "BTC 9000") {
		t.Fatalf("proof verify: %v\n%s", err, out)
	}
	out, err = run(append([]string{"holdings", "view", "--json=false"}, as(custody.Exchange, "auditor")...)...)
	if err != nil || !strings.Contains(out, "acct-1 BTC 120000") {
		t.Fatalf("holdings view: %v\n%s", err, out)
	}
	out, err = run(append([]string{"holdings", "reconcile", "--json=false"}, as(custody.Regulator, "auditor")...)...)
	if err != nil || !strings.Contains(out, "the views agree") || !strings.Contains(out, "exchange: audit chain head ") {
		t.Fatalf("holdings reconcile: %v\n%s", err, out)
	}
	chains[custody.Exchange].Set("acct-1", 1)
	out, err = run(append([]string{"holdings", "reconcile", "--json=false"}, as(custody.Regulator, "auditor")...)...)
	if _, ok := err.(userError); !ok || !strings.Contains(out, `DIFFERS exchange: acct-1/BTC is "1" here, "120000" at the others`) {
		t.Fatalf("holdings reconcile, one view changed: %v\n%s", err, out)
	}
	// A node that cannot read its own chain view is named with its error.
	chains[custody.Custodian].Fail(errors.New("bitcoin node: connection refused"))
	out, err = run(append([]string{"holdings", "reconcile", "--json=false"}, as(custody.Regulator, "auditor")...)...)
	if _, ok := err.(userError); !ok || !strings.Contains(out, "FAILED custodian: cannot read its own view") ||
		!strings.Contains(out, "connection refused") || strings.Contains(out, "MISSING") {
		t.Fatalf("holdings reconcile, the custodian's chain view failing: %v\n%s", err, out)
	}
}
