package hsm

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// transitCiphertext is a parsed "vault:v<N>:<base64>" string.
type transitCiphertext struct {
	raw     string
	version int
}

func parseTransitCiphertext(s string) (transitCiphertext, error) {
	rest, ok := strings.CutPrefix(s, "vault:v")
	if !ok {
		return transitCiphertext{}, fmt.Errorf("%w: transit ciphertext lacks the vault:v prefix", ErrMalformed)
	}
	ver, b64, ok := strings.Cut(rest, ":")
	if !ok || len(ver) == 0 || len(ver) > 9 {
		return transitCiphertext{}, fmt.Errorf("%w: transit ciphertext has no version", ErrMalformed)
	}
	n, err := strconv.Atoi(ver)
	if err != nil || n < 1 || strconv.Itoa(n) != ver {
		return transitCiphertext{}, fmt.Errorf("%w: transit ciphertext version is not a number", ErrMalformed)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) < gcmNonceLen+16 {
		return transitCiphertext{}, fmt.Errorf("%w: transit ciphertext body is not valid base64 of a GCM message", ErrMalformed)
	}
	return transitCiphertext{raw: s, version: n}, nil
}

func parseVaultPayload(p []byte) (string, transitCiphertext, error) {
	if len(p) < 2 {
		return "", transitCiphertext{}, fmt.Errorf("%w: vault payload too short", ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(p))
	if n == 0 || len(p) < 2+n {
		return "", transitCiphertext{}, fmt.Errorf("%w: vault payload key name truncated", ErrMalformed)
	}
	key := string(p[2 : 2+n])
	if !namePattern.MatchString(key) {
		return "", transitCiphertext{}, fmt.Errorf("%w: vault payload key name invalid", ErrMalformed)
	}
	ct, err := parseTransitCiphertext(string(p[2+n:]))
	return key, ct, err
}
