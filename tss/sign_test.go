package tss

import (
	"crypto/sha256"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

func verify(t testing.TB, pub *btcec.PublicKey, sig *Signature) {
	t.Helper()
	var r, s btcec.ModNScalar
	r.SetByteSlice(sig.R.Bytes())
	s.SetByteSlice(sig.S.Bytes())
	if !btcecdsa.NewSignature(&r, &s).Verify(sig.Digest[:], pub) {
		t.Fatal("signature does not verify with btcec")
	}
}

func TestSignEveryPair(t *testing.T) {
	shares := loadShares(t)
	pub, err := shares["custodian"].PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	pairs := [][]string{{"custodian", "exchange"}, {"custodian", "regulator"}, {"exchange", "regulator"}}
	for _, pair := range pairs {
		t.Run(pair[0]+"+"+pair[1], func(t *testing.T) {
			digest := sha256.Sum256([]byte("pair " + pair[0] + pair[1]))
			sid := DeriveSessionID(Sign, digest[:], []byte(pair[0]), []byte(pair[1]))
			res := runAll(t, newMemNet(testParties...), signSessions(t, shares, pair, digest, sid, time.Minute))
			for _, n := range pair {
				if res[n].err != nil {
					t.Fatalf("%s: %v", n, res[n].err)
				}
				sig, err := res[n].s.Signature()
				if err != nil {
					t.Fatal(err)
				}
				verify(t, pub, sig)
				// A cancel racing the end of a finished session aborts
				// nothing, and says so with a nil error (a typed-nil *Error
				// here made node.recordAbort panic).
				if err := res[n].s.Abort(errors.New("cancelled after the end")); err != nil {
					t.Fatalf("%s: Abort after the end: %#v", n, err)
				}
			}
		})
	}
}

func TestSignWithDerivationTweak(t *testing.T) {
	shares := loadShares(t)
	pub, _ := shares["custodian"].PublicKey()
	delta := new(btcec.ModNScalar)
	delta.SetInt(12345)
	d := delta.Bytes()
	tweak := new(big.Int).SetBytes(d[:])
	child, err := childKey(pub, tweak)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("child"))
	sid := DeriveSessionID(Sign, digest[:], []byte("child"))
	pair := []string{"exchange", "regulator"}
	sessions := map[string]*Session{}
	for _, n := range pair {
		s, err := NewSignSession(SignConfig{Config: testConfig(sid, n, time.Minute), Share: shares[n], Signers: pair, Digest: digest, Delta: tweak})
		if err != nil {
			t.Fatal(err)
		}
		sessions[n] = s
	}
	res := runAll(t, newMemNet(testParties...), sessions)
	sig, err := res["exchange"].s.Signature()
	if err != nil {
		t.Fatal(err)
	}
	verify(t, child, sig)
	// The fixture share itself is untouched by the tweak.
	if again, _ := shares["exchange"].PublicKey(); !again.IsEqual(pub) {
		t.Fatal("signing with a tweak modified the share")
	}
}

func TestSignConfigErrors(t *testing.T) {
	shares := loadShares(t)
	sid := DeriveSessionID(Sign, []byte("cfg"))
	cases := map[string]SignConfig{
		"one signer":   {Config: testConfig(sid, "custodian", time.Minute), Share: shares["custodian"], Signers: []string{"custodian"}},
		"unknown":      {Config: testConfig(sid, "custodian", time.Minute), Share: shares["custodian"], Signers: []string{"custodian", "mallory"}},
		"self missing": {Config: testConfig(sid, "custodian", time.Minute), Share: shares["custodian"], Signers: []string{"exchange", "regulator"}},
		"no deadline":  {Config: Config{SessionID: sid, Self: Party{ID: "custodian", Node: "custodian"}}, Share: shares["custodian"], Signers: []string{"custodian", "exchange"}},
		"zero session": {Config: testConfig(SessionID{}, "custodian", time.Minute), Share: shares["custodian"], Signers: []string{"custodian", "exchange"}},
		"no share":     {Config: testConfig(sid, "custodian", time.Minute), Signers: []string{"custodian", "exchange"}},
	}
	for name, c := range cases {
		if _, err := NewSignSession(c); !isErr(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
	}
}
