package recovery

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/triad-custody/triad/node/reshare"
)

// LoadOperatorKey reads an operator's ed25519 private key: a file holding
// the 32-byte seed or the 64-byte key in hex. The key never leaves memory.
func LoadOperatorKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recovery: reading operator key: %w", err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	clear(b)
	if err != nil {
		return nil, fmt.Errorf("recovery: operator key file %s is not hex", path)
	}
	defer clear(raw)
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		return append(ed25519.PrivateKey(nil), raw...), nil
	}
	return nil, fmt.Errorf("recovery: operator key file %s holds %d bytes, want 32 or 64", path, len(raw))
}

// NewNonce returns a fresh single-use approval nonce.
func NewNonce() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("recovery: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// Approve signs spec as one operator of party.
func Approve(spec reshare.Spec, party, operator string, key ed25519.PrivateKey) reshare.Approval {
	return reshare.SignApproval(spec, party, operator, NewNonce(), key)
}

// Progress renders a reshare step as one line of CLI output.
func Progress(e reshare.Event) string {
	line := fmt.Sprintf("[%s] %-10s %s", e.Time.Format("15:04:05"), e.Party, e.Step)
	if e.Detail != "" {
		line += ": " + e.Detail
	}
	return line
}
