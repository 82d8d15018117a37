package drill_test

import (
	"context"
	"crypto/sha256"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/internal/apiclient"
	"github.com/triad-custody/triad/recovery/drill"
	"github.com/triad-custody/triad/tss/fixtures"
)

// Tokens of the test callers, the same at every node.
var tokens = map[string]string{"admin": "admin-token-0123456789", "operator": "operator-token-0123456789"}

// newHTTPHarness is three nodes on libp2p (servicetest), each behind its
// own API on 127.0.0.1:0, reached through apiclient. The nodes' clocks
// are fake: each Watch first lets the notice period pass on every clock
// (and ticks), so a drill's wait ends by events, not by time.
func newHTTPHarness(t *testing.T) harness {
	c := st.New(t, st.Options{Libp2p: true, Policy: canaryPolicy})
	dir := t.TempDir()
	files := map[string]string{}
	for role, tok := range tokens {
		files[role] = filepath.Join(dir, role+".token")
		if err := os.WriteFile(files[role], []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	servers := map[string]*httptest.Server{}
	var nodes []drill.HTTPNode
	trusted := map[string]string{}
	for _, p := range custody.Parties {
		m := c.Members[p]
		var creds []api.Credential
		for role := range tokens {
			creds = append(creds, api.Credential{Name: role + "-1", Role: role, TokenEnv: "TOKEN_" + role})
		}
		srv, err := api.New(m.Runtime, api.Options{Config: api.Config{Credentials: creds}, Custody: m.Svc, Getenv: func(k string) string { return tokens[strings.TrimPrefix(k, "TOKEN_")] }})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv) // 127.0.0.1, port 0
		t.Cleanup(hs.Close)
		servers[string(p)] = hs
		addr := strings.TrimPrefix(hs.URL, "http://")
		admin, err := apiclient.New(apiclient.Options{API: addr, TokenFile: files["admin"], Role: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, drill.HTTPNode{Party: string(p), Policy: m.Policy, Admin: admin, Operator: func() (*apiclient.Client, error) {
			return apiclient.New(apiclient.Options{API: addr, TokenFile: files["operator"], Role: "operator"})
		}})
		trusted[string(p)] = m.Host.ID().String()
	}
	return harness{
		c:       &warp{HTTP: drill.NewHTTP(nodes), advance: func() { c.Advance(notice) }},
		now:     c.Members[custody.Custodian].Clock.Now,
		trusted: trusted,
		stop: func(p string) {
			servers[p].Close()
			c.Stop(custody.Party(p))
		},
	}
}

// warp is the HTTP cluster whose nodes' fake clocks move by the notice
// period before each Watch.
type warp struct {
	*drill.HTTP
	advance func()
}

func (w *warp) Watch(ctx context.Context, party, id string, cond func(service.View) (bool, error)) (service.View, error) {
	w.advance()
	return w.HTTP.Watch(ctx, party, id, cond)
}

// twinKey is the twin's group key; tests only.
func twinKey() *btcec.PrivateKey {
	s := sha256.Sum256([]byte("triad-test/drill-twin"))
	k, _ := btcec.PrivKeyFromBytes(s[:])
	return k
}

// newMemoryHarness is the in-memory twin with the same policies.
func newMemoryHarness(t *testing.T) harness {
	m := newTwin(t)
	return harness{c: m, now: m.clock.Now, stop: m.Stop, trusted: m.PeerIDs()}
}

type twin struct {
	*drill.Memory
	clock *custody.FakeClock
}

func newTwin(t *testing.T) twin {
	pols := map[string]custody.Policy{}
	for _, p := range custody.Parties {
		pol := st.BasePolicy(p)
		canaryPolicy(p, &pol)
		pols[string(p)] = pol
	}
	clock := custody.NewFakeClock(st.Epoch)
	m, err := drill.NewMemory(fixtures.KeyID, twinKey(), pols, clock)
	if err != nil {
		t.Fatal(err)
	}
	return twin{Memory: m, clock: clock}
}
