package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// tfnd is an 18-decimal EVM asset whose amounts run past 2^53−1.
var tfnd = custody.Asset{Symbol: "TFND", Decimals: 18, MaxUnits: "2000000000000000000000000", Class: custody.ClassMMF,
	Chain: custody.ChainEVM, ChainID: 1337, Contract: "0x00000000000000000000000000000000000c0C00"}

// evmAPI serves party p's API of a cluster whose policies know tfnd, with
// an operator token; posts counts the requests submitted through it.
func evmAPI(t *testing.T, p custody.Party) (c *st.Cluster, as []string, posts *atomic.Int32) {
	c = st.New(t, st.Options{Policy: func(_ custody.Party, pol *custody.Policy) { pol.Assets = append(pol.Assets, tfnd) }})
	tok := filepath.Join(t.TempDir(), "operator.tok")
	if err := os.WriteFile(tok, []byte("operator-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := c.Members[p]
	creds := []api.Credential{{Name: "operator-1", Role: "operator", TokenFile: tok}}
	srv, err := api.New(m.Runtime, api.Options{Config: api.Config{Credentials: creds}, Custody: m.Svc})
	if err != nil {
		t.Fatal(err)
	}
	posts = new(atomic.Int32)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/requests" {
			posts.Add(1)
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return c, []string{"--api", strings.TrimPrefix(hs.URL, "http://"), "--token-file", tok}, posts
}

// ../shared/SECURITY.md scenario 8 (issue 12): `triad request --units` carries an
// EVM amount above 2^53−1 exactly, and --replaces the ID of the request
// whose stuck transaction it replaces, into the stored request; --units
// with --amount, or a field flag with --file, is the caller's mistake
// (exit 1), refused before anything reaches the node.
func TestRequestUnitsReplacesFlags(t *testing.T) {
	c, as, posts := evmAPI(t, custody.Exchange)
	const million = "1000000000000000000000000" // 10^24 base units: one million 18-decimal tokens
	fields := append([]string{"request", "--kind", "collateral_release", "--account", st.Account, "--key-id", "fixture",
		"--child-path", st.ChildPath, "--asset", "TFND", "--destination", "0x00000000000000000000000000000000000A11cE"}, as...)
	submit := func(args ...string) service.View {
		t.Helper()
		out, errOut, err := runCLI(t, append(append([]string{}, fields...), args...)...)
		var v service.View
		if err != nil || json.Unmarshal([]byte(out), &v) != nil {
			t.Fatalf("triad request %v: %v\n%s%s", args, err, out, errOut)
		}
		return v
	}
	stuck := submit("--idempotency-key", "tfnd-1", "--units", million)
	repl := submit("--idempotency-key", "tfnd-1-bump", "--units", million, "--replaces", stuck.ID)
	for _, tc := range []struct {
		id, replaces string
	}{{stuck.ID, ""}, {repl.ID, stuck.ID}} {
		got, err := c.Svc(custody.Exchange).Get(tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if r := got.Request; r.Units != million || r.Amount != 0 || r.BaseUnits().String() != million || r.Replaces != tc.replaces {
			t.Errorf("stored %.12s: units %q amount %d replaces %q, want units %s replaces %q", tc.id, r.Units, r.Amount, r.Replaces, million, tc.replaces)
		}
	}
	if n := posts.Load(); n != 2 {
		t.Fatalf("%d posts, want 2", n)
	}

	_, _, err := runCLI(t, append(append([]string{}, fields...), "--idempotency-key", "tfnd-2", "--units", million, "--amount", "5")...)
	if err == nil || !isUserError(err) || !strings.Contains(err.Error(), "--units and --amount") {
		t.Fatalf("--units with --amount: %v, want the caller's mistake (exit 1) naming both flags", err)
	}
	if n := posts.Load(); n != 2 {
		t.Fatalf("--units with --amount reached the node (%d posts)", n)
	}
	// With --file the file is the whole request: a field flag beside it
	// would be dropped silently, so it is refused.
	file := filepath.Join(t.TempDir(), "request.json")
	draft := `{"kind":"collateral_release","idempotency_key":"tfnd-3","account":"` + st.Account + `","key_id":"fixture","child_path":"` +
		st.ChildPath + `","asset":"TFND","destination":"0x00000000000000000000000000000000000A11cE","units":"` + million + `"}`
	if err := os.WriteFile(file, []byte(draft), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, flag := range [][]string{{"--replaces", stuck.ID}, {"--units", "5"}, {"--fee-rate", "5"}} {
		_, _, err := runCLI(t, append(append([]string{"request", "--file", file}, flag...), as...)...)
		if err == nil || !isUserError(err) || !strings.Contains(err.Error(), flag[0]+" with --file") {
			t.Errorf("--file with %s: %v, want the caller's mistake (exit 1)", flag[0], err)
		}
	}
	if n := posts.Load(); n != 2 {
		t.Fatalf("a field flag with --file reached the node (%d posts)", n)
	}
	out, _, err := runCLI(t, append([]string{"request", "--file", file}, as...)...)
	var v service.View
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.Request.Units != million {
		t.Fatalf("--file: %v\n%s", err, out)
	}
}
