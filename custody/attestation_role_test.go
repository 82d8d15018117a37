package custody_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
)

// Issue 13: the attestation key signs proofs of holdings and never a
// spend (../shared/SECURITY.md scenario 33: a key's signatures only ever over the
// messages of its role). The policy accepts the role; no account may be
// held by it; every transfer on it and the raw-digest path are refused.
func TestAttestationKeyNeverSpends(t *testing.T) {
	p := loadPolicy(t)
	p.Keys = append(p.Keys, custody.KeyConfig{ID: "attest-1", Role: custody.RoleAttestation})
	if err := p.Validate(); err != nil {
		t.Fatalf("a policy with an attestation key: %v", err)
	}
	if r, ok := p.KeyRoleOf("attest-1"); !ok || r != custody.RoleAttestation {
		t.Fatalf("role %q %v", r, ok)
	}
	bad := p
	bad.Accounts = append([]custody.Account(nil), p.Accounts...)
	bad.Accounts[0].KeyID = "attest-1"
	if err := bad.Validate(); !errors.Is(err, custody.ErrInvalidPolicy) || !strings.Contains(err.Error(), "accounts[0].key_id") {
		t.Fatalf("an account held by the attestation key: %v", err)
	}
	// Even with such an account (a policy Evaluate does not validate),
	// no transfer of any kind is signable on the attestation key.
	for _, req := range []custody.Request{sampleRelease(), sampleLiquidation()} {
		req.KeyID = "attest-1"
		d := custody.Evaluate(bad, custody.State{}, req, epoch)
		if d.Verdict != custody.VerdictRefuse || !d.Has(custody.ReasonKey) {
			t.Errorf("%s on the attestation key: %v", req.Kind, d)
		}
	}
	unfreeze := sampleRelease()
	unfreeze.Kind, unfreeze.KeyID, unfreeze.Reason = custody.KindUnfreeze, "attest-1", "drill"
	if d := custody.Evaluate(bad, custody.State{}, unfreeze, epoch); d.Verdict != custody.VerdictRefuse || !d.Has(custody.ReasonKey) {
		t.Errorf("unfreeze on the attestation key: %v", d)
	}
	if err := custody.CheckRawDigest(p, "attest-1"); !errors.Is(err, custody.ErrRawDigestRefused) {
		t.Fatalf("raw digest on the attestation key: %v", err)
	}
	if err := custody.CheckRawDrill(p, "attest-1", "drill-1", make([]byte, 32)); !errors.Is(err, custody.ErrRawDigestRefused) {
		t.Fatalf("drill on the attestation key: %v", err)
	}
}

func TestPolicyPriceKeys(t *testing.T) {
	p := loadPolicy(t)
	p.PriceKeys = []string{"zz"}
	if err := p.Validate(); !errors.Is(err, custody.ErrInvalidPolicy) || !strings.Contains(err.Error(), "price_keys[0]:") {
		t.Fatalf("bad price key: %v", err)
	}
	p.PriceKeys = []string{p.MarginEngineKeys[0]}
	p.PriceMaxAge = -1
	if err := p.Validate(); !errors.Is(err, custody.ErrInvalidPolicy) || !strings.Contains(err.Error(), "price_max_age:") {
		t.Fatalf("bad price age: %v", err)
	}
	p.PriceMaxAge = 0
	p.HoldingsSnapshotEvery = time.Second
	if err := p.Validate(); !errors.Is(err, custody.ErrInvalidPolicy) || !strings.Contains(err.Error(), "holdings_snapshot_every:") {
		t.Fatalf("bad snapshot schedule: %v", err)
	}
	p.HoldingsSnapshotEvery = 0
	if p.SnapshotEvery() != 12*time.Hour {
		t.Fatalf("default schedule %s", p.SnapshotEvery())
	}
	if err := p.Validate(); err != nil || len(p.PriceKeysParsed()) != 1 || p.PriceAge() != custody.DefaultPriceMaxAge {
		t.Fatalf("%v %d %s", err, len(p.PriceKeysParsed()), p.PriceAge())
	}
}
