package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// Issue 10, item 8 (../shared/SECURITY.md scenario 21): the CLI exits 1, not 2, for the
// caller's mistakes the node answers 4xx: a keygen of a key that exists
// or with a key ID that is a path, a raw signature with a custody key, a
// canary-path signature over a digest the caller chose (../shared/SECURITY.md scenario 33).
func TestAdminMistakesExitOne(t *testing.T) {
	c := st.New(t, st.Options{})
	tok := filepath.Join(t.TempDir(), "admin.tok")
	if err := os.WriteFile(tok, []byte("admin-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := c.Members[custody.Custodian]
	creds := []api.Credential{{Name: "admin-1", Role: "admin", TokenFile: tok}}
	srv, err := api.New(m.Runtime, api.Options{Config: api.Config{Credentials: creds}, Custody: m.Svc})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	as := []string{"--api", strings.TrimPrefix(hs.URL, "http://"), "--token-file", tok}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"keygen", "--key-id", "fixture"}, "key_exists (409)"},
		{[]string{"keygen", "--key-id", "../../x"}, "bad_request (400)"},
		{[]string{"sign", "--key-id", "fixture", "--nonce", "drill-1"}, "policy_refused (403)"},
		{[]string{"sign", "--key-id", "fixture", "--digest", strings.Repeat("42", 32)}, "policy_refused (403)"},
		{[]string{"sign", "--key-id", "fixture", "--nonce", "two words"}, "--nonce"},
	} {
		out, err := runTriad(t, append(tc.args, as...)...)
		if err == nil || !isUserError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("triad %s: %v (exit 1: %v), want %q\n%s", strings.Join(tc.args, " "), err, isUserError(err), tc.want, out)
		}
	}
}
