package service_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/node"
)

// ../shared/SECURITY.md scenario 33: the default authorizer signs with a canary key only the
// drill message of the proposal's request ID, recomputed here.
func TestRawSignPolicyDrillMessagesOnly(t *testing.T) {
	pol := service.RawSignPolicy{Policy: custody.Policy{Keys: []custody.KeyConfig{{ID: "canary-1", Role: custody.RoleCanary}, {ID: "vault-1", Role: custody.RoleCustody}}}}
	d, err := custody.DrillDigest("drill-7")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := pol.AuthorizeSign(ctx, "canary-1", &node.Proposal{RequestID: "drill-7", Digest: d[:]}); err != nil {
		t.Fatalf("drill message: %v", err)
	}
	for name, p := range map[string]*node.Proposal{
		"chosen digest":    {RequestID: "drill-7", Digest: bytes.Repeat([]byte{1}, 32)},
		"other request id": {RequestID: "drill-8", Digest: d[:]},
	} {
		if err := pol.AuthorizeSign(ctx, "canary-1", p); !errors.Is(err, custody.ErrRawDigestRefused) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := pol.AuthorizeSign(ctx, "vault-1", &node.Proposal{RequestID: "drill-7", Digest: d[:]}); !errors.Is(err, custody.ErrRawDigestRefused) {
		t.Errorf("custody key: %v", err)
	}
}
