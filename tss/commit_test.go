package tss

import (
	"errors"
	"testing"
)

// ../shared/SECURITY.md scenario 29 (keygen commits): a party's commit verifies at
// every other party against the public share their own key shares list for
// it, and at nobody's as another party's, for another digest or altered.
func TestKeygenCommitSignatures(t *testing.T) {
	shares := loadShares(t)
	sid := DeriveSessionID(Keygen, []byte("commit"))
	cu := shares["custodian"]
	pub, _ := cu.PublicKey()
	view, err := cu.PublicView()
	if err != nil {
		t.Fatal(err)
	}
	d := KeygenCommitDigest(sid, pub.SerializeCompressed(), view, "custodian")
	sig, err := cu.SignCommit(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"exchange", "regulator", "custodian"} {
		if err := shares[n].VerifyCommit("custodian", d, sig); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	other := KeygenCommitDigest(sid, pub.SerializeCompressed(), view, "exchange")
	bad := append([]byte(nil), sig...)
	bad[len(bad)-1] ^= 1
	for name, err := range map[string]error{
		"as the exchange": shares["regulator"].VerifyCommit("exchange", d, sig),
		"another digest":  shares["regulator"].VerifyCommit("custodian", other, sig),
		"altered":         shares["regulator"].VerifyCommit("custodian", d, bad),
		"not a party":     shares["regulator"].VerifyCommit("mallory", d, sig),
		"empty signature": shares["regulator"].VerifyCommit("custodian", d, nil),
	} {
		if !errors.Is(err, ErrCommit) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
