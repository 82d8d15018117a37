package tss

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

func testSignature(t *testing.T) (*btcec.PublicKey, Signature) {
	t.Helper()
	priv, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	d := sha256.Sum256([]byte("one signature type"))
	sig := btcecdsa.Sign(priv, d[:])
	r, s := sig.R(), sig.S()
	rb, sb := r.Bytes(), s.Bytes()
	return priv.PubKey(), Signature{R: new(big.Int).SetBytes(rb[:]), S: new(big.Int).SetBytes(sb[:]), Recovery: 1, Digest: d}
}

// The one secp256k1 verifier: a signature verifies over its own digest
// under its own key, and nothing out of range ever does.
func TestSignatureVerify(t *testing.T) {
	pub, sig := testSignature(t)
	if !sig.Verify(pub) {
		t.Fatal("a valid signature does not verify")
	}
	other, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{8}, 32))
	n := btcec.S256().N
	for name, c := range map[string]struct {
		pub    *btcec.PublicKey
		change func(*Signature)
	}{
		"another key":    {other.PubKey(), func(*Signature) {}},
		"another digest": {pub, func(s *Signature) { s.Digest[0] ^= 1 }},
		"r zero":         {pub, func(s *Signature) { s.R = new(big.Int) }},
		"s zero":         {pub, func(s *Signature) { s.S = new(big.Int) }},
		"r = n":          {pub, func(s *Signature) { s.R = new(big.Int).Set(n) }},
		"s + n":          {pub, func(s *Signature) { s.S = new(big.Int).Add(s.S, n) }},
		"r negative":     {pub, func(s *Signature) { s.R = new(big.Int).Neg(s.R) }},
		"r nil":          {pub, func(s *Signature) { s.R = nil }},
		"no key":         {nil, func(*Signature) {}},
	} {
		s := sig
		c.change(&s)
		if s.Verify(c.pub) {
			t.Errorf("%s: verifies", name)
		}
	}
	var none *Signature
	if none.Verify(pub) {
		t.Error("nil signature verifies")
	}
}

// The JSON form is the one results always had (stored results, peers'
// messages and audit digests depend on its bytes): hex, r and s padded to
// 32 bytes; it reads back strictly.
func TestSignatureJSON(t *testing.T) {
	sig := Signature{R: big.NewInt(0x0102), S: big.NewInt(3), Recovery: 1, Digest: [32]byte{0xaa}}
	b, err := json.Marshal(sig)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"digest":"aa` + strings.Repeat("0", 62) + `","r":"` + strings.Repeat("0", 60) + `0102","s":"` + strings.Repeat("0", 63) + `3","recovery":1}`
	if string(b) != want {
		t.Fatalf("json %s\nwant %s", b, want)
	}
	var back Signature
	if err := json.Unmarshal(b, &back); err != nil || !back.Equal(sig) || back.R == sig.R {
		t.Fatalf("round trip %+v %v", back, err)
	}
	other := back
	other.S = big.NewInt(4)
	if other.Equal(sig) || (Signature{}).Equal(sig) || !(Signature{}).Equal(Signature{}) {
		t.Fatal("Equal compares values")
	}
	for name, bad := range map[string]string{
		"unknown field": strings.Replace(want, `"recovery"`, `"extra":1,"recovery"`, 1),
		"short r":       strings.Replace(want, `"r":"00`, `"r":"`, 1),
		"not hex":       strings.Replace(want, `"s":"0`, `"s":"z`, 1),
		"not an object": `"sig"`,
	} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
