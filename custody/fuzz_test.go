package custody_test

import (
	"bytes"
	"testing"

	"github.com/triad-custody/triad/custody"
)

// FuzzDecodeRequest: decoding never panics, and whatever decodes is valid
// and survives a canonical round trip with the same ID. The normal test run
// executes the seeds (below and in testdata/fuzz/FuzzDecodeRequest).
func FuzzDecodeRequest(f *testing.F) {
	f.Add(sampleRelease().Canonical())
	f.Add(sampleLiquidation().Canonical())
	f.Add([]byte(`{"kind":"canary","idempotency_key":"d","requester":{"party":"regulator","caller":"ops"},"key_id":"canary-1","digest":"` +
		"abababababababababababababababababababababababababababababababab" + `","created_at":"2026-03-02T09:00:00Z"}`))
	f.Add([]byte(`{"kind":"liquidation","evidence":{"collateral":[{"asset":"BTC","value":1e400}]}}`))
	f.Add([]byte(`{"a":{"b":{"c":[[[[[[[[]]]]]]]]}}}`))
	f.Add([]byte(`{"kind":"collateral_release","kind":"liquidation"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := custody.DecodeRequest(b)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded request does not validate: %v", err)
		}
		c := r.Canonical()
		r2, err := custody.DecodeCanonicalRequest(c)
		if err != nil {
			t.Fatalf("canonical form does not decode: %v", err)
		}
		if r2.ID() != r.ID() || !bytes.Equal(r2.Canonical(), c) {
			t.Fatal("canonical round trip changed the request")
		}
	})
}

// FuzzDecodeApproval: decoding and verifying arbitrary approvals never panics.
func FuzzDecodeApproval(f *testing.F) {
	f.Add([]byte(`{"request_id":"x","kind":"canary","stance":"veto","party":"regulator","operator":"carol","nonce":"n","issued_at":"2026-03-02T09:00:00Z","expires":"2026-03-02T09:10:00Z","signature":"AAAA"}`))
	f.Add([]byte(`{"signature":null,"expires":"9999-12-31T23:59:59Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := custody.DecodeApproval(b)
		if err != nil {
			return
		}
		_ = custody.VerifyApproval(custody.DefaultPolicy(custody.Regulator), a, sampleRelease(), epoch)
	})
}
