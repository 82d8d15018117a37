package api_test

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

type errBody struct {
	Error struct{ Code, Message string } `json:"error"`
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	c := newAPICluster(t, st.Options{})
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI(), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.yaml: %v (version %q)", err, doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	srv := c.server(t, custody.Custodian)
	var served []string
	for _, r := range srv.Routes() {
		served = append(served, r.Method+" "+r.Path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("openapi.yaml documents\n%s\nbut the server serves\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
	if code := c.call(t, custody.Custodian, "", "GET", "/openapi.yaml", nil, nil); code != 200 {
		t.Fatalf("GET /openapi.yaml: %d", code)
	}
}

// Every API error case: a clear 4xx JSON error, and nothing stored.
func TestAPIErrors(t *testing.T) {
	c := newAPICluster(t, st.Options{})
	ex := custody.Exchange
	headBefore, _ := c.Svc(ex).Store().Audit().Head()
	good := `{"kind":"collateral_release","idempotency_key":"e1","account":"acct-1","key_id":"fixture","child_path":"m/0/1","asset":"BTC","destination":"bc1qowner0000account0one","amount":1000,"fee_rate":5}`
	big := `{"kind":"collateral_release","reason":"` + strings.Repeat("x", 70<<10) + `"}`
	approval := c.Approval(custody.Exchange, service.View{ID: strings.Repeat("ab", 32), Request: custody.Request{Kind: custody.KindRelease}}, custody.Approve, "e")
	badSig := approval
	badSig.Signature = make([]byte, 64)
	cases := []struct {
		name, role, method, path string
		body                     any
		code                     int
		errCode                  string
	}{
		{"no token", "", "POST", "/v1/requests", good, 401, "unauthorized"},
		{"wrong token", "not-a-valid-token-at-all", "POST", "/v1/requests", good, 401, "unauthorized"},
		{"auditor creates", "auditor", "POST", "/v1/requests", good, 403, "forbidden"},
		{"margin engine asks a release", "margin-engine", "POST", "/v1/requests", good, 403, "forbidden"},
		{"malformed JSON", "operator", "POST", "/v1/requests", `{"kind":`, 400, "malformed"},
		{"empty body", "operator", "POST", "/v1/requests", "", 400, "malformed_json"},
		{"unknown field", "operator", "POST", "/v1/requests", strings.Replace(good, `"fee_rate"`, `"fee":1,"fee_rate"`, 1), 400, "malformed"},
		{"duplicate key", "operator", "POST", "/v1/requests", strings.Replace(good, `"amount":1000`, `"amount":1000,"amount":2000`, 1), 400, "malformed"},
		{"trailing data", "operator", "POST", "/v1/requests", good + `{}`, 400, "malformed"},
		{"wrong type", "operator", "POST", "/v1/requests", strings.Replace(good, `1000`, `"1000"`, 1), 400, "malformed"},
		{"invalid field", "operator", "POST", "/v1/requests", strings.Replace(good, `"fixture"`, `"bad key"`, 1), 400, "malformed"},
		{"oversized body", "operator", "POST", "/v1/requests", big, 413, "body_too_large"},
		{"other party's requester", "operator", "POST", "/v1/requests", strings.Replace(good, `"account"`, `"requester":{"party":"custodian","caller":"operator-1"},"account"`, 1), 403, "forbidden"},
		{"unknown request", "auditor", "GET", "/v1/requests/" + approval.RequestID, nil, 404, "not_found"},
		{"bad limit", "auditor", "GET", "/v1/requests?limit=0", nil, 400, "bad_query"},
		{"approval of unknown request", "operator", "POST", "/v1/requests/" + approval.RequestID + "/approvals", approval, 404, "not_found"},
		{"approval for another path", "operator", "POST", "/v1/requests/other/approvals", approval, 422, "mismatch"},
		{"approval by the margin engine", "margin-engine", "POST", "/v1/requests/" + approval.RequestID + "/approvals", approval, 403, "forbidden"},
		{"malformed approval", "operator", "POST", "/v1/requests/x/approvals", `{"stance":"approve","x":1}`, 400, "malformed"},
		{"metrics without token", "", "GET", "/metrics", nil, 401, "unauthorized"},
		{"events bad since", "auditor", "GET", "/v1/events?since=x", nil, 400, "bad_query"},
		{"audit by margin engine", "margin-engine", "GET", "/v1/audit", nil, 403, "forbidden"},
		{"unknown endpoint", "auditor", "GET", "/v1/nothing", nil, 404, "not_found"},
	}
	for _, tc := range cases {
		var eb errBody
		code := c.call(t, ex, tc.role, tc.method, tc.path, tc.body, &eb)
		if code != tc.code || eb.Error.Code != tc.errCode || eb.Error.Message == "" {
			t.Errorf("%s: got %d %+v, want %d %s", tc.name, code, eb.Error, tc.code, tc.errCode)
		}
	}
	// A signed approval whose signature is wrong, for a stored request.
	var v service.View
	if code := c.call(t, ex, "operator", "POST", "/v1/requests", good, &v); code != 201 {
		t.Fatalf("create: %d", code)
	}
	badSig.RequestID = v.ID
	var eb errBody
	if code := c.call(t, ex, "operator", "POST", "/v1/requests/"+v.ID+"/approvals", badSig, &eb); code != 422 || eb.Error.Code != "bad_signature" {
		t.Fatalf("bad signature: %d %+v", code, eb)
	}
	if got, _ := c.Svc(ex).Get(v.ID); len(got.Approvals) != 0 {
		t.Fatal("a refused approval was stored")
	}
	// Nothing but that one request reached the store or the audit chain.
	var list api.RequestList
	c.call(t, ex, "auditor", "GET", "/v1/requests", nil, &list)
	if len(list.Requests) != 1 {
		t.Fatalf("%d requests stored", len(list.Requests))
	}
	recs, _ := c.Svc(ex).Store().Audit().Records(headBefore.Seq+1, 0)
	for _, r := range recs {
		if r.RequestID != v.ID && r.Kind != "clock" {
			t.Fatalf("audit record of a refused call: %+v", r)
		}
	}
}

// Through the API of three nodes: the margin engine's liquidation is
// co-signed automatically (watched on the event stream); a release needs
// both operators' signed approvals, posted to their own nodes; the same
// idempotency key twice is one request; a replayed approval is refused.
func TestAPIFlow(t *testing.T) {
	c := newAPICluster(t, st.Options{})
	ex, cu := custody.Exchange, custody.Custodian
	exEvents := c.events(t, ex, "")
	liq := st.Liquidation("api-liq", 1_000_000, st.MarginKey(), st.Epoch.Add(-time.Minute))
	liq.CreatedAt = time.Time{}
	var v service.View
	if code := c.call(t, ex, "margin-engine", "POST", "/v1/requests", liq, &v); code != http.StatusCreated {
		t.Fatalf("create liquidation: %d", code)
	}
	waitEvent(t, exEvents, "liquidation done", func(e service.Event) bool {
		return e.RequestID == v.ID && e.Type == service.EventStatus && e.Status == custody.StatusDone
	})
	var again service.View
	if code := c.call(t, ex, "margin-engine", "POST", "/v1/requests", liq, &again); code != http.StatusOK || again.ID != v.ID {
		t.Fatalf("same idempotency key: %d %s", code, again.ID)
	}
	var got service.View
	c.call(t, cu, "auditor", "GET", "/v1/requests/"+v.ID, nil, &got)
	if got.Result == nil || !got.Result.Complete {
		c.WaitStatus(t, cu, v.ID, custody.StatusDone)
	}

	rel := st.Release("api-rel", 2000)
	var r service.View
	if code := c.call(t, ex, "operator", "POST", "/v1/requests", rel, &r); code != http.StatusCreated {
		t.Fatalf("create release: %d", code)
	}
	cuEvents := c.events(t, cu, "?request="+r.ID)
	a := c.Approval(ex, r, custody.Approve, "api")
	if code := c.call(t, ex, "operator", "POST", "/v1/requests/"+r.ID+"/approvals", a, nil); code != 200 {
		t.Fatalf("exchange approval: %d", code)
	}
	var eb errBody
	if code := c.call(t, ex, "operator", "POST", "/v1/requests/"+r.ID+"/approvals", a, &eb); code != 409 || eb.Error.Code != "replay" {
		t.Fatalf("replayed approval: %d %+v", code, eb)
	}
	c.WaitFor(t, cu, r.ID, "exchange approval", func(v service.View) bool { return len(v.Approvals) == 1 })
	if code := c.call(t, cu, "operator", "POST", "/v1/requests/"+r.ID+"/approvals", c.Approval(cu, r, custody.Approve, "api"), nil); code != 200 {
		t.Fatalf("custodian approval: %d", code)
	}
	waitEvent(t, cuEvents, "release done", func(e service.Event) bool {
		return e.Type == service.EventStatus && e.Status == custody.StatusDone
	})

	var list api.RequestList
	c.call(t, ex, "auditor", "GET", "/v1/requests?status=done", nil, &list)
	c.WaitStatus(t, ex, r.ID, custody.StatusDone)
	c.call(t, ex, "auditor", "GET", "/v1/requests?status=done", nil, &list)
	if len(list.Requests) != 2 {
		t.Fatalf("%d done requests", len(list.Requests))
	}
	checkMetrics(t, c, ex)
	checkAudit(t, c, ex)
}

func checkMetrics(t *testing.T, c *apiCluster, p custody.Party) {
	req, _ := http.NewRequest("GET", c.urls[p]+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+tokens["auditor"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := readAll(resp)
	for _, want := range []string{`triad_custody_requests_total{kind="liquidation"} 1`, "triad_custody_signatures_total", "triad_node_incidents"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func checkAudit(t *testing.T, c *apiCluster, p custody.Party) {
	var recs api.AuditRecords
	if code := c.call(t, p, "auditor", "GET", "/v1/audit/records?from=1", nil, &recs); code != 200 || len(recs.Records) == 0 {
		t.Fatalf("audit records: %d", code)
	}
	if err := audit.Verify(recs.Records); err != nil {
		t.Fatal(err)
	}
	var stat api.AuditStatus
	if c.call(t, p, "auditor", "GET", "/v1/audit", nil, &stat); !stat.Verified || stat.Head.Seq < uint64(len(recs.Records)) {
		t.Fatalf("audit status: %+v", stat)
	}
	var rec api.ReconcileResponse
	if code := c.call(t, custody.Regulator, "admin", "POST", "/v1/audit/reconcile", nil, &rec); code != 200 || len(rec.Results) != 2 {
		t.Fatalf("reconcile: %d %+v", code, rec)
	}
}

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
