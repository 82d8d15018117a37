package tss

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// Signature is a finished secp256k1 ECDSA signature (r, s) over Digest, as
// a threshold signing session returns it. It is Triad's one signature
// type: custody results, Bitcoin finalisation and the API carry it. In
// JSON it is {"digest","r","s","recovery"}, each 32 bytes as hex.
type Signature struct {
	R, S     *big.Int
	Recovery byte
	Digest   [32]byte
}

// Verify reports whether the signature is valid for Digest under pub:
// r and s in 1..n-1 and the ECDSA equation holding. It is Triad's one
// secp256k1 verifier.
func (s *Signature) Verify(pub *btcec.PublicKey) bool {
	if s == nil || pub == nil || s.R == nil || s.S == nil || s.R.Sign() <= 0 || s.S.Sign() <= 0 ||
		s.R.BitLen() > 256 || s.S.BitLen() > 256 {
		return false
	}
	var r, sc btcec.ModNScalar
	if r.SetByteSlice(s.R.Bytes()) || sc.SetByteSlice(s.S.Bytes()) || r.IsZero() || sc.IsZero() {
		return false
	}
	return btcecdsa.NewSignature(&r, &sc).Verify(s.Digest[:], pub)
}

// Equal reports whether o is the same signature (== compares the
// pointers R and S, not their values).
func (s Signature) Equal(o Signature) bool {
	return s.Digest == o.Digest && s.Recovery == o.Recovery && cmpInt(s.R, o.R) && cmpInt(s.S, o.S)
}

func cmpInt(a, b *big.Int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Cmp(b) == 0
}

// signatureJSON is Signature on the wire: hex, r and s left-padded to 32
// bytes.
type signatureJSON struct {
	Digest   string `json:"digest"`
	R        string `json:"r"`
	S        string `json:"s"`
	Recovery byte   `json:"recovery"`
}

// MarshalJSON writes the hex form.
func (s Signature) MarshalJSON() ([]byte, error) {
	return json.Marshal(signatureJSON{Digest: hex.EncodeToString(s.Digest[:]), R: Hex32(s.R), S: Hex32(s.S), Recovery: s.Recovery})
}

// UnmarshalJSON reads the hex form strictly: no other fields, each value
// 32 bytes of hex.
func (s *Signature) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w signatureJSON
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	var fields [3][]byte
	for i, h := range []string{w.Digest, w.R, w.S} {
		v, err := hex.DecodeString(h)
		if err != nil || len(v) != 32 {
			return fmt.Errorf("%w: signature: want 32 bytes of hex in digest, r and s", ErrMalformed)
		}
		fields[i] = v
	}
	*s = Signature{R: new(big.Int).SetBytes(fields[1]), S: new(big.Int).SetBytes(fields[2]), Recovery: w.Recovery}
	copy(s.Digest[:], fields[0])
	return nil
}

// Hex32 is x as 32 big-endian bytes in hex (zeros for nil or a value
// wider than 32 bytes).
func Hex32(x *big.Int) string {
	out := make([]byte, 32)
	if x != nil && len(x.Bytes()) <= 32 {
		x.FillBytes(out)
	}
	return hex.EncodeToString(out)
}
