package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// Tokens of the test callers, the same at every node.
var tokens = map[string]string{
	"admin":         "admin-token-0123456789",
	"operator":      "operator-token-0123456789",
	"margin-engine": "margin-engine-token-0123456789",
	"auditor":       "auditor-token-0123456789",
}

// apiCluster is three nodes, each behind its own API on 127.0.0.1:0.
type apiCluster struct {
	*st.Cluster
	urls map[custody.Party]string
	// attesters, when set, serve proofs of holdings (holdings_test.go).
	attesters map[custody.Party]*holdings.Attester
	views     map[custody.Party]*holdings.View
	metrics   map[custody.Party][]prometheus.Collector
	recs      map[custody.Party]*holdings.Reconciler
}

func newAPICluster(t *testing.T, o st.Options) *apiCluster {
	c := &apiCluster{Cluster: st.New(t, o), urls: map[custody.Party]string{}}
	for _, p := range custody.Parties {
		c.serve(t, p)
	}
	return c
}

func (c *apiCluster) serve(t *testing.T, p custody.Party) {
	hs := httptest.NewServer(c.server(t, p)) // 127.0.0.1, port 0
	t.Cleanup(hs.Close)
	c.urls[p] = hs.URL
}

// server builds party p's API server with the test credentials.
func (c *apiCluster) server(t *testing.T, p custody.Party) *api.Server {
	m := c.Members[p]
	var creds []api.Credential
	for role := range tokens {
		creds = append(creds, api.Credential{Name: role + "-1", Role: role, TokenEnv: "TOKEN_" + role})
	}
	srv, err := api.New(m.Runtime, api.Options{Config: api.Config{Credentials: creds}, Custody: m.Svc, Holdings: c.attesters[p], HoldingsView: c.views[p], Collectors: c.metrics[p], Reconciler: c.recs[p], Getenv: func(k string) string {
		return tokens[strings.TrimPrefix(k, "TOKEN_")]
	}})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// call sends a request as role (empty: no token) and decodes the answer.
func (c *apiCluster) call(t *testing.T, p custody.Party, role, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, c.urls[p]+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != "" {
		tok := tokens[role]
		if tok == "" {
			tok = role // a wrong token given literally
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// events opens the SSE stream of party p's node and returns decoded events.
func (c *apiCluster) events(t *testing.T, p custody.Party, query string) <-chan service.Event {
	t.Helper()
	req, _ := http.NewRequest("GET", c.urls[p]+"/v1/events"+query, nil)
	req.Header.Set("Authorization", "Bearer "+tokens["auditor"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("event stream: %v %v", err, resp)
	}
	t.Cleanup(func() { resp.Body.Close() })
	ch := make(chan service.Event, 256)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var e service.Event
				if json.Unmarshal([]byte(data), &e) == nil {
					ch <- e
				}
			}
		}
	}()
	return ch
}

// waitEvent reads ch until match; one deadline.
func waitEvent(t *testing.T, ch <-chan service.Event, what string, match func(service.Event) bool) service.Event {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("event stream ended before %s", what)
			}
			if match(e) {
				return e
			}
		case <-deadline.C:
			t.Fatalf("no event: %s", what)
		}
	}
}
