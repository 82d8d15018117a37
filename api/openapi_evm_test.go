package api_test

import (
	"encoding/json"
	"math/big"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
)

// marshalsItself: typ writes its own JSON (tss.Signature's r, s, ...).
func marshalsItself(typ reflect.Type) bool {
	m := reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	return typ.Implements(m) || reflect.PointerTo(typ).Implements(m)
}

// checkServed fails for any key of the served JSON v that the schema s
// does not document, at every level where s lists properties.
func checkServed(t *testing.T, schemas map[string]*schema, path string, s *schema, v any) {
	t.Helper()
	if s != nil && s.Ref != "" {
		s = schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	if s == nil {
		t.Errorf("%s: served but not documented", path)
		return
	}
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			if s.Items != nil {
				checkServed(t, schemas, path+"[]", s.Items, e)
			} else if i == 0 {
				t.Errorf("%s: an array the document gives no items", path)
			}
		}
	case map[string]any:
		if s.Properties == nil {
			return // documented as a free-form object
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			checkServed(t, schemas, path+"."+k, s.Properties[k], x[k])
		}
	}
}

// Issue 12: the request view of a transfer paid on an EVM chain — the
// request with its EVM plan, the result's plan (chain ID, nonce, gas, fee
// caps) and the settlement (transaction hash, confirmations) — is what
// openapi.yaml documents: every JSON field of the Go types, at every
// level, and every key of a served EVM view, signatures included. An
// operator reading the document sees what a signer checked (../shared/SECURITY.md
// ../shared/SECURITY.md scenario 26).
func TestOpenAPIDocumentsEVMView(t *testing.T) {
	doc := servedOpenAPI(t)
	schemas := doc.Components.Schemas
	resp := doc.Paths["/v1/requests/{id}"]["get"].Responses["200"].Content["application/json"].Schema
	if resp == nil || schemas["View"] == nil {
		t.Fatal("GET /v1/requests/{id} has no documented View")
	}
	view := schemas["View"]
	checkDocumented(t, schemas, "view.request", view.Properties["request"], reflect.TypeOf(custody.Request{}))
	checkDocumented(t, schemas, "view.result", view.Properties["result"], reflect.TypeOf(service.Result{}))
	checkDocumented(t, schemas, "view.settlement", view.Properties["settlement"], reflect.TypeOf(service.Settlement{}))

	plan := &custody.EVMPlan{ChainID: 1337, Nonce: 3, Gas: 62_000, MaxFeePerGas: "100000000000", MaxPriorityFeePerGas: "2000000000"}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	v := service.View{ID: strings.Repeat("ab", 32), Status: custody.StatusDone, Attempts: 1, UpdatedAt: now,
		Request: custody.Request{Kind: custody.KindRelease, IdempotencyKey: "tusd-1", Requester: custody.Requester{Party: custody.Exchange, Caller: "operator"},
			Account: "acct-evm", KeyID: "vault-1", ChildPath: "m/0/1", Asset: "TUSD", Destination: "0x00000000000000000000000000000000000a11ce",
			Amount: 1_250_500_000, CreatedAt: now, EVM: plan},
		Result: &service.Result{Coordinator: "exchange", Signers: []custody.Party{"custodian", "exchange"}, Complete: true, EVM: plan,
			Signatures: []service.Signature{{R: big.NewInt(7), S: big.NewInt(9), Recovery: 1, Digest: [32]byte{1}}}},
		Settlement: &service.Settlement{TxID: "0x" + strings.Repeat("cd", 32), Broadcast: true, Confirmations: 1, Updated: now}}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var served any
	if err := json.Unmarshal(b, &served); err != nil {
		t.Fatal(err)
	}
	checkServed(t, schemas, "view", resp, served)
	for _, k := range []string{`"evm":{"chain_id":1337,"nonce":3,"gas":62000`, `"txid":"0xcdcd`} {
		if !strings.Contains(string(b), k) {
			t.Fatalf("the served view lacks %s: %s", k, b)
		}
	}
}
