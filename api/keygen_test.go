package api_test

import (
	"testing"

	"github.com/triad-custody/triad/custody"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// ../shared/SECURITY.md scenario 31 at the API: a keygen the node's own configuration refuses
// (a key ID outside policy.keys) is the caller's mistake,
// 422, not a server failure; an invalid key ID or a spec approved for
// another key is a 400.
func TestKeygenRefusedIsCallersMistake(t *testing.T) {
	c := newAPICluster(t, st.Options{})
	cases := []struct {
		name    string
		body    string
		code    int
		errCode string
	}{
		{"unconfigured key", `{"key_id":"vault-9"}`, 422, "keygen_refused"},
		{"invalid key id", `{"key_id":"bad/id"}`, 400, "bad_request"},
		{"spec for another key", `{"key_id":"vault-9","order":{"spec":{"key_id":"vault-1"},"approvals":[]}}`, 400, "bad_request"},
	}
	for _, tc := range cases {
		var eb errBody
		if code := c.call(t, custody.Custodian, "admin", "POST", "/v1/admin/keygen", tc.body, &eb); code != tc.code || eb.Error.Code != tc.errCode {
			t.Errorf("%s: got %d %+v, want %d %s", tc.name, code, eb.Error, tc.code, tc.errCode)
		}
	}
}
