package hsm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

const gcmNonceLen = 12

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("hsm: creating AES cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// gcmSeal returns prefix || nonce || ciphertext, authenticating prefix and aad.
func gcmSeal(aead cipher.AEAD, prefix, aad, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, gcmNonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("hsm: reading random nonce: %w", err)
	}
	out := make([]byte, 0, len(prefix)+gcmNonceLen+len(plaintext)+aead.Overhead())
	out = append(append(out, prefix...), nonce...)
	return aead.Seal(out, nonce, plaintext, boundData(prefix, aad)), nil
}

// gcmOpen opens rest (nonce || ciphertext) sealed by gcmSeal under prefix.
func gcmOpen(aead cipher.AEAD, prefix, rest, aad []byte) ([]byte, error) {
	if len(rest) < gcmNonceLen+aead.Overhead() {
		return nil, fmt.Errorf("%w: payload of %d bytes is too short", ErrMalformed, len(rest))
	}
	pt, err := aead.Open(nil, rest[:gcmNonceLen], rest[gcmNonceLen:], boundData(prefix, aad))
	if err != nil {
		// Wrong key, wrong AAD and tampering are indistinguishable by design.
		return nil, ErrAuthFailed
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

func checkPlaintext(plaintext []byte) error {
	if len(plaintext) > MaxPlaintext {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(plaintext), MaxPlaintext)
	}
	return nil
}

func zero(b []byte) {
	clear(b)
}
