package api_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/tss/fixtures"
)

// A reshare whose approvals do not verify is refused before any step:
// 403 unstreamed; streamed, a 200 whose one NDJSON line carries the
// error with the status the unstreamed call answers.
func TestReshareRefusedStreamedAndNot(t *testing.T) {
	c := newAPICluster(t, st.Options{})
	c.Members[custody.Custodian].Runtime.EnableRecovery(nil)
	o := reshare.Order{Spec: reshare.Spec{ReshareID: "r1", KeyID: fixtures.KeyID, Replace: "exchange",
		PublicKey: strings.Repeat("02", 33), Expires: st.Epoch.Add(-time.Hour)}}

	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if code := c.call(t, custody.Custodian, "admin", "POST", "/v1/recovery/reshare", o, &body); code != http.StatusForbidden || body.Error.Code != "reshare_failed" {
		t.Fatalf("unstreamed: %d %+v", code, body)
	}

	raw, _ := json.Marshal(o)
	req, _ := http.NewRequest("POST", c.urls[custody.Custodian]+"/v1/recovery/reshare?stream=1", strings.NewReader(string(raw)))
	req.Header.Set("Authorization", "Bearer "+tokens["admin"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("streamed: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var lines []api.ReshareLine
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var l api.ReshareLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 1 || lines[0].Step != nil || lines[0].Error == nil || lines[0].Error.Status != http.StatusForbidden ||
		!strings.Contains(lines[0].Error.Message, "expired") {
		t.Fatalf("streamed lines: %+v", lines)
	}
}

// Resolving an undecided reshare names an action; with nothing pending
// at the node there is nothing to resolve.
func TestResolveReshareAPI(t *testing.T) {
	c := newAPICluster(t, st.Options{})
	req := api.ResolveRequest{KeyID: fixtures.KeyID, PendingView: strings.Repeat("ab", 32), Action: "keep-both"}
	if code := c.call(t, custody.Custodian, "admin", "POST", "/v1/recovery/reshare/resolve", req, nil); code != http.StatusBadRequest {
		t.Fatalf("unknown action: %d", code)
	}
	req.Action = "commit"
	if code := c.call(t, custody.Custodian, "auditor", "POST", "/v1/recovery/reshare/resolve", req, nil); code != http.StatusForbidden {
		t.Fatalf("auditor resolving: %d", code)
	}
	if code := c.call(t, custody.Custodian, "admin", "POST", "/v1/recovery/reshare/resolve", req, nil); code != http.StatusNotFound {
		t.Fatalf("nothing pending: %d", code)
	}
}
