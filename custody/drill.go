package custody

import (
	"bytes"
	"crypto/sha256"
	"fmt"
)

// DrillTag prefixes every drill message a canary key signs on the raw
// path. It is longer than 32 bytes, so tag || nonce is never the 32-byte
// inner hash of a legacy or segwit-v0 sighash (SHA-256d), and it does not
// begin with a BIP340 tag hash (taproot): a drill digest cannot be a
// transaction sighash without a SHA-256 preimage.
const DrillTag = "triad/canary-drill-message/v1: never a transaction sighash\n"

// MaxDrillNonce bounds a drill nonce (it travels as the proposal's request
// ID, bound into the session ID).
const MaxDrillNonce = 128

// ValidDrillNonce: 1..MaxDrillNonce characters of A-Z a-z 0-9 . _ : / + = -.
func ValidDrillNonce(nonce string) error {
	if len(nonce) == 0 || len(nonce) > MaxDrillNonce {
		return fmt.Errorf("%w: drill nonce of %d characters, want 1..%d", ErrMalformed, len(nonce), MaxDrillNonce)
	}
	for _, c := range nonce {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		switch c {
		case '.', '_', ':', '/', '+', '=', '-':
			ok = true
		}
		if !ok {
			return fmt.Errorf("%w: drill nonce %q: only A-Z a-z 0-9 . _ : / + = - allowed", ErrMalformed, clip(nonce))
		}
	}
	return nil
}

// DrillDigest is the digest a canary key signs for a drill: SHA-256 of
// DrillTag and the nonce. Every signer recomputes it from the nonce.
func DrillDigest(nonce string) ([32]byte, error) {
	if err := ValidDrillNonce(nonce); err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256([]byte(DrillTag + nonce)), nil
}

// CheckRawDrill is the guard of the raw-digest signing path (../shared/SECURITY.md scenario 33):
// every node calls it before joining a session whose digest it did not
// build from a typed request. The key must be a canary key in this node's
// policy and the digest the drill message of nonce, which the node
// recomputes itself; any other digest (a transaction sighash above all) is
// refused, so one party alone cannot spend a canary account.
func CheckRawDrill(p Policy, keyID, nonce string, digest []byte) error {
	if err := CheckRawDigest(p, keyID); err != nil {
		return err
	}
	want, err := DrillDigest(nonce)
	if err != nil {
		return fmt.Errorf("raw canary signature with key %q: %w: %v", clip(keyID), ErrRawDigestRefused, err)
	}
	if !bytes.Equal(digest, want[:]) {
		return fmt.Errorf("raw canary signature with key %q: %w: the digest is not the drill message of nonce %q "+
			"(the raw path signs only SHA-256(drill tag || nonce); spending goes through a typed request with approvals)",
			clip(keyID), ErrRawDigestRefused, clip(nonce))
	}
	return nil
}
