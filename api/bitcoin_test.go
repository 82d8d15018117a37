package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"

	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/nodetest"
)

// GET /v1/bitcoin/address derives the custody address from this node's
// own share: the group key's and a client's child, on the asked network.
func TestBitcoinAddress(t *testing.T) {
	ks := nodetest.KeyStore(t, t.TempDir(), "exchange", hsm.NewMemory())
	const token = "bitcoin-test-token-0123456789"
	cfg := &node.Config{Party: "exchange"}
	api := Config{MaxBodyBytes: 1 << 16, Credentials: []Credential{{Name: "ops", Role: "operator", TokenEnv: "T"}}}
	s, err := New(&node.Runtime{Cfg: cfg, Keys: ks}, Options{Config: api, BitcoinNetwork: "regtest", Getenv: func(string) string { return token }})
	if err != nil {
		t.Fatal(err)
	}
	s.registerBitcoin()
	s.registerBitcoin() // idempotent
	group, _ := nodetest.Share(t, "exchange").PublicKey()
	get := func(query string, out any) int {
		r := httptest.NewRequest("GET", "/v1/bitcoin/address?"+query, nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if out != nil {
			json.Unmarshal(w.Body.Bytes(), out)
		}
		return w.Code
	}
	for _, c := range []struct{ query, path, network string }{
		{"key_id=fixture", "m", "regtest"},
		{"key_id=fixture&path=m/0/7", "m/0/7", "regtest"},
		{"key_id=fixture&path=m/0/7&network=mainnet", "m/0/7", "mainnet"},
	} {
		var got AddressResponse
		if code := get(c.query, &got); code != http.StatusOK {
			t.Fatalf("%s: %d", c.query, code)
		}
		k, _ := settle.DeriveAddressKey(group, c.path)
		want, _ := btc.CustodyAddress(k, c.network)
		if got.Address != want.String() || got.Path != c.path || got.Network != c.network {
			t.Fatalf("%s: %+v, want %s", c.query, got, want)
		}
	}
	for q, want := range map[string]int{
		"key_id=nope":                     http.StatusNotFound,
		"key_id=fixture&path=m/0'":        http.StatusBadRequest,
		"key_id=fixture&network=dogecoin": http.StatusBadRequest,
		"key_id=fixture&path=0/1":         http.StatusBadRequest,
	} {
		if code := get(q, nil); code != want {
			t.Errorf("%s: %d, want %d", q, code, want)
		}
	}
}

// GET /v1/requests/{id}/tx decodes a stored request's transaction as the
// node builds it.
func TestRequestTx(t *testing.T) {
	group, _ := nodetest.Share(t, "custodian").PublicKey()
	child, _ := settle.DeriveAddressKey(group, st.ChildPath)
	src, _ := btc.CustodyAddress(child, "regtest")
	ownerKey, _ := settle.DeriveAddressKey(group, "m/9")
	owner, _ := btc.CustodyAddress(ownerKey, "regtest")
	c := st.New(t, st.Options{Policy: func(p custody.Party, pol *custody.Policy) {
		pol.Accounts[0].OwnerAddress = owner.String()
	}})
	req := st.Release("tx-show", 1_000_000)
	req.Destination = owner.String()
	v, _, err := c.Svc(custody.Custodian).Submit(context.Background(), st.Caller(service.RoleOperator), req)
	if err != nil {
		t.Fatal(err)
	}
	// The caller names no coins (issue 9): a request that names them is
	// refused, and the plan is what the coordinator reserves.
	named := req
	named.Inputs = []custody.Input{{TxID: strings.Repeat("ab", 32), Vout: 1, Value: 5_000_000}}
	if _, _, err := c.Svc(custody.Custodian).Submit(context.Background(), st.Caller(service.RoleOperator), named); !errors.Is(err, custody.ErrMalformed) {
		t.Fatalf("a request naming its coins: %v", err)
	}
	m := c.Members[custody.Custodian]
	rt := *m.Runtime
	api := Config{Credentials: []Credential{{Name: "ops", Role: "operator", TokenEnv: "T"}}}
	const token = "bitcoin-test-token-0123456789"
	s, err := New(&rt, Options{Config: api, Custody: c.Svc(custody.Custodian), BitcoinNetwork: "regtest", Getenv: func(string) string { return token }})
	if err != nil {
		t.Fatal(err)
	}
	s.registerBitcoin()
	get := func(id string) (int, settle.View) {
		r := httptest.NewRequest("GET", "/v1/requests/"+id+"/tx", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		var view settle.View
		json.Unmarshal(w.Body.Bytes(), &view)
		return w.Code, view
	}
	if code, _ := get(v.ID); code != http.StatusNotFound {
		t.Fatalf("before any coins are reserved: %d", code)
	}
	if err := c.Svc(custody.Custodian).Store().Reserve(v.ID, named.Inputs, false); err != nil {
		t.Fatal(err)
	}
	code, view := get(v.ID)
	if code != http.StatusOK || view.Source != src.String() || len(view.Inputs) != 1 || len(view.Outputs) != 2 || view.PSBT == "" {
		t.Fatalf("%d %+v", code, view)
	}
	if code, _ := get(strings.Repeat("cd", 32)); code != http.StatusNotFound {
		t.Fatalf("unknown request: %d", code)
	}
}
