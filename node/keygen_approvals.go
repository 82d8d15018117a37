package node

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/triad-custody/triad/node/reshare"
)

// Operator approvals of a custody key's generation (../shared/SECURITY.md scenario
// 31): operators of two parties sign a KeygenSpec, with the same approval
// records, keys and checks as a reshare (node/reshare/approvals.go). A canary
// key needs none.
//
// Unlike a reshare's, a keygen approval's nonce is not used up by an
// attempt: a keygen that failed can be retried at once with the same
// approvals until they expire, and once the key exists no node generates
// it again.

// ErrKeygenApproval: a custody keygen without two parties' approvals.
var ErrKeygenApproval = errors.New("node: keygen approvals insufficient")

// KeygenSpec is what two parties' operators approve: the key, its parties
// and threshold, and until when.
type KeygenSpec struct {
	KeyID     string    `json:"key_id"`
	Parties   []string  `json:"parties"`
	Threshold int       `json:"threshold"`
	Expires   time.Time `json:"expires"`
}

// Digest binds approvals to the spec.
func (s KeygenSpec) Digest() [32]byte {
	s.Expires = s.Expires.UTC().Truncate(time.Second)
	b, _ := json.Marshal(s) // plain struct: cannot fail
	return sha256.Sum256(append([]byte("triad/keygen-spec/v1\n"), b...))
}

// KeygenOrder is a spec with its approvals: what a custody keygen carries.
type KeygenOrder struct {
	Spec      KeygenSpec         `json:"spec"`
	Approvals []reshare.Approval `json:"approvals"`
}

// SignKeygenApproval signs spec as operator of party (CLI and tests).
func SignKeygenApproval(spec KeygenSpec, party, operator, nonce string, key ed25519.PrivateKey) reshare.Approval {
	return reshare.SignDigest(spec.Digest(), spec.Expires, party, operator, nonce, key)
}

// checkKeygenOrder makes this node's own checks of a keygen's approvals
// against its own configuration: none for a canary key; for a custody or
// attestation key, a spec naming this key, this node's parties and
// threshold, signed by operators of two parties.
func (n *Node) checkKeygenOrder(keyID string, o *KeygenOrder) error {
	role, approvals, err := n.keygenRole(keyID)
	if err != nil {
		return err
	}
	if !approvals {
		if o != nil {
			return fmt.Errorf("%w: %s is a %s key: its keygen carries no approvals", ErrKeygenRefused, keyID, role)
		}
		return nil
	}
	// Custody and attestation keys (the attestation key's signatures are
	// what the exchange extends credit on) need two parties' approvals.
	if o == nil {
		return fmt.Errorf("%w: %s is a %s key: its keygen needs two parties' operator approvals", ErrKeygenApproval, keyID, role)
	}
	if o.Spec.KeyID != keyID || !slices.Equal(o.Spec.Parties, n.opt.Parties) || o.Spec.Threshold != n.keygenThreshold() {
		return fmt.Errorf("%w: the approved spec (%s, %v, threshold %d) is not %s's keygen of %s (%v, threshold %d)", ErrKeygenApproval,
			o.Spec.KeyID, o.Spec.Parties, o.Spec.Threshold, n.opt.Party, keyID, n.opt.Parties, n.keygenThreshold())
	}
	ops, on := n.rsh.Operators()
	if !on {
		return fmt.Errorf("%w: %w (no operator keys to check approvals with)", ErrKeygenApproval, reshare.ErrRecoveryOff)
	}
	return reshare.VerifyApprovalSet(ops, ErrKeygenApproval, o.Spec.Digest(), o.Spec.Expires, o.Approvals, n.opt.Now())
}
