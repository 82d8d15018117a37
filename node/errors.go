package node

import (
	"errors"
	"fmt"
)

// Sentinel errors for what the caller of Sign or Keygen got wrong, so the
// API answers them as the caller's mistake (4xx), not as a cluster failure.
var (
	// ErrPolicyRefused: this node's own authorizer refused a proposal it
	// was about to make. No partner hears of it and no other pair is tried.
	ErrPolicyRefused = errors.New("node: policy refuses")
	// ErrInvalidInput: a request names something that cannot be valid
	// (a key ID that is not a name).
	ErrInvalidInput = errors.New("node: invalid input")
	// ErrKeyExists: a key generation for a key ID this node already holds.
	ErrKeyExists = errors.New("node: key already exists")
	// ErrInitialized: `triad init` of a node that already has an identity.
	ErrInitialized = errors.New("node: already initialized")
)

// CheckKeygen refuses, before any partner hears of it, a key generation
// Keygen would refuse: a key ID that is not a name, or one this node
// already holds a share of.
func (n *Node) CheckKeygen(keyID string) error {
	if !validName(keyID) {
		return fmt.Errorf("%w: key id %q: want 1-128 characters of A-Z a-z 0-9 - _ .", ErrInvalidInput, clipName(keyID))
	}
	if n.opt.Keys.Has(keyID) {
		return fmt.Errorf("%w: %s (this node holds a share of it; a key is generated once)", ErrKeyExists, keyID)
	}
	return nil
}

func clipName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
