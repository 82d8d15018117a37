package node

import (
	"errors"
	"testing"

	"github.com/triad-custody/triad/custody"
)

// Issue 13 (../shared/SECURITY.md scenario 31): the attestation key, whose signatures the
// exchange extends credit on, is generated like a custody key: only with
// two parties' operator approvals; a canary key needs none.
func TestAttestationKeygenNeedsApprovals(t *testing.T) {
	n := &Node{opt: Options{Party: "custodian", KeygenRule: custody.Policy{Keys: []custody.KeyConfig{
		{ID: "attest-1", Role: custody.RoleAttestation}, {ID: "canary-1", Role: custody.RoleCanary}}}.KeygenRule}}
	if err := n.checkKeygenOrder("attest-1", nil); !errors.Is(err, ErrKeygenApproval) {
		t.Fatalf("attestation keygen without approvals: %v", err)
	}
	if err := n.checkKeygenOrder("canary-1", nil); err != nil {
		t.Fatalf("canary keygen: %v", err)
	}
}
