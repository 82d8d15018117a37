package evm_test

import (
	"encoding/json"
	"math/big"
	"testing"

	"github.com/triad-custody/triad/custody/evm"
)

// FuzzDescribe: any bytes given as a raw transaction give a view or an
// error, never a panic (../shared/SECURITY.md scenario 7).
func FuzzDescribe(f *testing.F) {
	p := testPlan(evm.Address(privKey(9).PubKey()))
	raw, _ := p.Tx().MarshalBinary()
	f.Add(raw)
	f.Add([]byte{0x02})
	f.Add([]byte{0x02, 0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := evm.Describe(b); err == nil && v.Kind == "" {
			t.Fatal("a view without a kind")
		}
	})
}

// FuzzPlanJSON: a plan a peer sends, decoded from any JSON, is refused or
// finalized cleanly, never a panic (../shared/SECURITY.md scenario 7).
func FuzzPlanJSON(f *testing.F) {
	good, _ := json.Marshal(testPlan(evm.Address(privKey(9).PubKey())))
	f.Add(good)
	f.Add([]byte(`{"value":-1,"max_fee_per_gas":1,"max_priority_fee_per_gas":1,"gas":1}`))
	f.Add([]byte(`{"value":1e99}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p evm.Plan
		if json.Unmarshal(b, &p) != nil {
			return
		}
		_, _ = evm.Finalize(&p, big.NewInt(1), big.NewInt(1))
	})
}

// FuzzParseUnits: amounts parse exactly or not at all, and round-trip.
func FuzzParseUnits(f *testing.F) {
	for _, s := range []string{"1250.5", "0.000001", "1.", "-1", "1e6"} {
		f.Add(s, 6)
	}
	f.Fuzz(func(t *testing.T, s string, dec int) {
		v, err := evm.ParseUnits(s, dec)
		if err != nil {
			return
		}
		if v.Sign() <= 0 {
			t.Fatalf("%q parsed to %s", s, v)
		}
		if back, err := evm.ParseUnits(evm.FormatUnits(v, dec), dec); err != nil || back.Cmp(v) != 0 {
			t.Fatalf("%q → %s → %q does not round-trip: %v", s, v, evm.FormatUnits(v, dec), err)
		}
	})
}

// TestPlanJSONKeepsDigest: a plan sent to a peer as JSON is the same
// transaction there (same digest).
func TestPlanJSONKeepsDigest(t *testing.T) {
	p := testPlan(evm.Address(privKey(9).PubKey()))
	p.Value = new(big.Int).Lsh(big.NewInt(1), 200)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q evm.Plan
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if q.Digest() != p.Digest() {
		t.Fatalf("digest changed over JSON: %s", b)
	}
}
