package api_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/tss/fixtures"
)

// signedResp is the union of the raw-path answers.
type signedResp struct {
	api.SignResponse
	Error struct{ Code, Message string } `json:"error"`
}

// ../shared/SECURITY.md scenario 21 (issue 10, item 8): the caller's mistakes on the admin
// endpoints are 4xx, never 502, and none reaches a partner: a raw
// signature with a custody key (403, no attempt), a keygen of a key
// that exists (409) or with a key ID that is no name (400), a duplicate
// JSON key (400), a body that is not declared JSON (415).
func TestAdminCallerMistakesAre4xx(t *testing.T) {
	c := newAPICluster(t, st.Options{})
	cu := custody.Custodian
	cases := []struct {
		name, path string
		body       any
		code       int
		errCode    string
	}{
		{"raw signature, custody key", "/v1/admin/sign", `{"key_id":"fixture","nonce":"drill-1"}`, 403, "policy_refused"},
		{"raw digest, custody key", "/v1/admin/sign", `{"key_id":"fixture","digest":"` + strings.Repeat("42", 32) + `"}`, 403, "policy_refused"},
		{"canary-sign, custody key", "/v1/recovery/canary-sign", `{"key_id":"fixture","nonce":"drill-1"}`, 403, "policy_refused"},
		{"keygen of an existing key", "/v1/admin/keygen", `{"key_id":"fixture"}`, 409, "key_exists"},
		{"keygen, key ID a path", "/v1/admin/keygen", `{"key_id":"../../x"}`, 400, "bad_request"},
		{"keygen, no key ID", "/v1/admin/keygen", `{}`, 400, "bad_request"},
		{"duplicate key", "/v1/admin/sign", `{"key_id":"fixture","key_id":"canary-1","nonce":"n"}`, 400, "malformed_json"},
		{"duplicate key by case", "/v1/admin/keygen", `{"key_id":"a","KEY_ID":"b"}`, 400, "malformed_json"},
		{"bad nonce", "/v1/admin/sign", `{"key_id":"fixture","nonce":"two words"}`, 400, "bad_request"},
		{"neither nonce nor digest", "/v1/admin/sign", `{"key_id":"fixture"}`, 400, "bad_request"},
		{"bad digest", "/v1/admin/sign", `{"key_id":"fixture","digest":"zz"}`, 400, "bad_request"},
		{"bad child path", "/v1/admin/sign", `{"key_id":"fixture","nonce":"n","child_path":"m/0'/x"}`, 400, "bad_request"},
		{"unknown partner", "/v1/recovery/canary-sign", `{"key_id":"fixture","nonce":"n","partner":"bank"}`, 400, "bad_request"},
	}
	for _, tc := range cases {
		var eb signedResp
		code := c.call(t, cu, "admin", "POST", tc.path, tc.body, &eb)
		if code != tc.code || eb.Error.Code != tc.errCode || eb.Error.Message == "" {
			t.Errorf("%s: got %d %+v, want %d %s", tc.name, code, eb.Error, tc.code, tc.errCode)
		}
		if len(eb.Attempts) != 0 {
			t.Errorf("%s: %d signing attempts for the caller's mistake: %+v", tc.name, len(eb.Attempts), eb.Attempts)
		}
	}
	if inc := c.Members[cu].Node.Incidents(); len(inc) != 0 {
		t.Errorf("the caller's mistakes were recorded as incidents: %+v", inc)
	}
	// Not one proposal reached a partner.
	for _, p := range []custody.Party{custody.Exchange, custody.Regulator} {
		for k, n := range c.Members[p].Node.Counters() {
			if strings.HasPrefix(k, "declined_") && n > 0 {
				t.Errorf("%s declined %d proposal(s) (%s): a partner heard of the caller's mistake", p, n, k)
			}
		}
	}
}

// JSON endpoints take only application/json bodies (415 otherwise),
// before anything is decoded.
func TestJSONEndpointsRefuseOtherContentTypes(t *testing.T) {
	c := newAPICluster(t, st.Options{})
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx", "multipart/form-data; boundary=x"} {
		for _, path := range []string{"/v1/admin/sign", "/v1/admin/keygen", "/v1/requests", "/v1/recovery/canary-sign"} {
			req, _ := http.NewRequest("POST", c.urls[custody.Custodian]+path, strings.NewReader(`{"key_id":"fixture","nonce":"n"}`))
			req.Header.Set("Authorization", "Bearer "+tokens["admin"])
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnsupportedMediaType {
				t.Errorf("%s with content type %q: %d, want 415", path, ct, resp.StatusCode)
			}
		}
	}
	// With parameters it is still JSON.
	var eb signedResp
	req, _ := http.NewRequest("POST", c.urls[custody.Custodian]+"/v1/admin/keygen", strings.NewReader(`{"key_id":"fixture"}`))
	req.Header.Set("Authorization", "Bearer "+tokens["admin"])
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("application/json; charset=utf-8: %d, want 409 %+v", resp.StatusCode, eb)
	}
}

// ../shared/SECURITY.md scenario 33 (issue 10, item 7): a canary key signs, on the raw path,
// the drill message of a nonce and nothing else. A digest the caller
// chose (a canary account's sighash) is refused by the node's own policy,
// with no attempt; a drill message is signed by two nodes and verifies.
func TestRawCanarySignsOnlyDrillMessages(t *testing.T) {
	c := newAPICluster(t, st.Options{Policy: func(_ custody.Party, pol *custody.Policy) {
		pol.Keys = []custody.KeyConfig{{ID: fixtures.KeyID, Role: custody.RoleCanary}}
	}})
	ex := custody.Exchange
	sighash := strings.Repeat("42", 32)
	drill, _ := custody.DrillDigest("drill-9")
	for _, body := range []string{
		`{"key_id":"fixture","digest":"` + sighash + `"}`,
		`{"key_id":"fixture","nonce":"drill-9","digest":"` + sighash + `"}`,
		`{"key_id":"fixture","nonce":"drill-8","digest":"` + hex.EncodeToString(drill[:]) + `"}`,
	} {
		var eb signedResp
		if code := c.call(t, ex, "admin", "POST", "/v1/admin/sign", body, &eb); code != 403 || eb.Error.Code != "policy_refused" ||
			!strings.Contains(eb.Error.Message, "drill message") || len(eb.Attempts) != 0 {
			t.Errorf("%s: %d %+v", body, code, eb)
		}
	}
	share, err := c.Members[ex].Keys.Load(context.Background(), fixtures.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := share.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"key_id":"fixture","nonce":"drill-9"}`,
		`{"key_id":"fixture","nonce":"drill-9","digest":"` + hex.EncodeToString(drill[:]) + `","child_path":""}`,
	} {
		var res signedResp
		if code := c.call(t, ex, "admin", "POST", "/v1/admin/sign", body, &res); code != 200 {
			t.Fatalf("%s: %d %+v", body, code, res.Error)
		}
		if res.Digest != hex.EncodeToString(drill[:]) || res.Nonce != "drill-9" || !verifies(t, pub, drill, res.R, res.S) {
			t.Fatalf("%s: signature %+v is not over the drill message, or does not verify", body, res.SignResponse)
		}
	}
	var cs api.CanarySignResponse
	if code := c.call(t, ex, "admin", "POST", "/v1/recovery/canary-sign", `{"key_id":"fixture","nonce":"drill-10","partner":"regulator"}`, &cs); code != 200 {
		t.Fatalf("canary-sign: %d", code)
	}
	d10, _ := custody.DrillDigest("drill-10")
	if cs.Digest != hex.EncodeToString(d10[:]) || !verifies(t, pub, d10, cs.R, cs.S) || strings.Join(cs.Signers, "+") != "exchange+regulator" {
		t.Fatalf("canary-sign: %+v", cs)
	}
}

func verifies(t *testing.T, pub *btcec.PublicKey, d [32]byte, rHex, sHex string) bool {
	t.Helper()
	rb, err1 := hex.DecodeString(rHex)
	sb, err2 := hex.DecodeString(sHex)
	var r, s btcec.ModNScalar
	if err1 != nil || err2 != nil || r.SetByteSlice(rb) || s.SetByteSlice(sb) {
		return false
	}
	return btcecdsa.NewSignature(&r, &s).Verify(d[:], pub)
}
