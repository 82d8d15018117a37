package custody_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
)

func TestApprovalDecodeAndVerify(t *testing.T) {
	p := loadPolicy(t)
	req := sampleRelease()
	a := custody.SignApproval(custody.Approval{
		RequestID: req.ID(), Kind: req.Kind, Stance: custody.Approve, Party: custody.Exchange, Operator: "bob",
		Nonce: "nonce-0000000000000001", IssuedAt: epoch, Expires: epoch.Add(10 * time.Minute),
	}, operatorKey(custody.Exchange))
	b := []byte(`{"request_id":"` + a.RequestID + `","kind":"collateral_release","stance":"approve","party":"exchange","operator":"bob","nonce":"nonce-0000000000000001","issued_at":"2026-03-02T09:00:00Z","expires":"2026-03-02T09:10:00Z","signature":"` + b64(a.Signature) + `"}`)
	got, err := custody.DecodeApproval(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := custody.VerifyApproval(p, got, req, epoch.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := custody.DecodeApproval(append(b[:len(b)-1:len(b)-1], []byte(`,"x":1}`)...)); !errors.Is(err, custody.ErrMalformed) {
		t.Fatalf("unknown field: %v", err)
	}
	other := req
	other.Kind = custody.KindUnfreeze
	if err := custody.VerifyApproval(p, got, other, epoch); !errors.Is(err, custody.ErrMismatch) {
		t.Fatalf("other request: %v", err)
	}
	bad := got
	bad.Operator = "mallory"
	if err := custody.VerifyApproval(p, bad, req, epoch); !errors.Is(err, custody.ErrBadSignature) {
		t.Fatalf("unknown operator: %v", err)
	}
	if err := custody.VerifyApproval(p, got, req, epoch.Add(-time.Hour)); !errors.Is(err, custody.ErrExpired) {
		t.Fatalf("issued in the future: %v", err)
	}
	ns := custody.NewMemNonceStore()
	if err := ns.UseNonce(got.Party, got.Nonce, got.Expires); err != nil {
		t.Fatal(err)
	}
	if err := ns.UseNonce(got.Party, got.Nonce, got.Expires); !errors.Is(err, custody.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	ns.Prune(epoch.Add(time.Hour))
	if err := ns.UseNonce(got.Party, got.Nonce, got.Expires); err != nil {
		t.Fatalf("after prune the nonce store forgets (VerifyApproval refuses the expired approval): %v", err)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
