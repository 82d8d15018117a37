package reshare

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"
)

// operators is one test operator key per party, named "op-<party>".
type operators map[string]ed25519.PrivateKey

func newOperators(t testing.TB) operators {
	ops := operators{}
	for _, p := range []string{"custodian", "exchange", "regulator"} {
		_, sk, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		ops[p] = sk
	}
	return ops
}

// lookup is the operators' public keys, as Options.Operators.
func (o operators) lookup(party, name string) (ed25519.PublicKey, bool) {
	sk, ok := o[party]
	if !ok || name != "op-"+party {
		return nil, false
	}
	return sk.Public().(ed25519.PublicKey), true
}

// order is spec approved by the operators of approvers.
func (o operators) order(spec Spec, approvers ...string) Order {
	ord := Order{Spec: spec}
	for _, p := range approvers {
		nonce := fmt.Sprintf("nonce-%s-%s-0123456789", p, spec.ReshareID)
		ord.Approvals = append(ord.Approvals, SignApproval(spec, p, "op-"+p, nonce, o[p]))
	}
	return ord
}

// testSpec asks to replace party on a key, expiring in an hour.
func testSpec(id, replace, newPeer string) Spec {
	return Spec{ReshareID: id, KeyID: "fixture", Replace: replace, NewPeerID: newPeer,
		PublicKey: "02" + strings.Repeat("11", 32), Expires: time.Now().Add(time.Hour)}
}
