package reshare

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/tss"
)

// What operators approve and what a reshare reports: the spec, the order
// (a spec with its approvals), the steps and the result.

// Spec is what two parties' operators approve.
type Spec struct {
	// ReshareID is unique per reshare (operator-chosen or random).
	ReshareID string `json:"reshare_id"`
	KeyID     string `json:"key_id"`
	// Replace is the party whose node is replaced; the other two are the
	// old committee.
	Replace string `json:"replace"`
	// NewPeerID is the replacement node's libp2p peer ID ("" on an
	// in-memory network): the other nodes pin it for Replace.
	NewPeerID string `json:"new_peer_id,omitempty"`
	// PublicKey is the group key (hex, 33-byte compressed): the reshare
	// must keep it.
	PublicKey string    `json:"public_key"`
	Expires   time.Time `json:"expires"`
}

// Digest binds approvals to the spec.
func (s Spec) Digest() [32]byte {
	s.Expires = s.Expires.UTC().Truncate(time.Second)
	b, _ := json.Marshal(s) // plain struct: cannot fail
	return sha256.Sum256(append([]byte("triad/reshare-spec/v1\n"), b...))
}

func (s Spec) validate(parties []string) error {
	switch {
	case !keystore.ValidName(s.ReshareID):
		return fmt.Errorf("invalid reshare id %q", s.ReshareID)
	case !keystore.ValidName(s.KeyID):
		return fmt.Errorf("invalid key id %q", s.KeyID)
	case !slices.Contains(parties, s.Replace):
		return fmt.Errorf("%q is not a party", s.Replace)
	case s.Expires.IsZero():
		return errors.New("no expiry")
	}
	if s.NewPeerID != "" {
		if _, err := peer.Decode(s.NewPeerID); err != nil {
			return fmt.Errorf("new peer id: %v", err)
		}
	}
	if b, err := hex.DecodeString(s.PublicKey); err != nil || len(b) != 33 {
		return errors.New("public key must be 66 hex characters (compressed)")
	}
	return nil
}

// Order is a spec with its approvals: what a coordinator runs.
type Order struct {
	Spec      Spec       `json:"spec"`
	Approvals []Approval `json:"approvals"`
}

// Reshare errors.
var (
	ErrApproval    = errors.New("node: reshare approvals insufficient")
	ErrAborted     = errors.New("node: reshare aborted; old shares kept")
	ErrUndecided   = errors.New("node: reshare undecided; old and pending shares both kept")
	ErrRecoveryOff = errors.New("node: recovery not enabled on this node")
)

// Event is one step of a reshare, for progress output and audit.
type Event struct {
	Time      time.Time `json:"time"`
	ReshareID string    `json:"reshare_id"`
	Party     string    `json:"party"`
	Step      string    `json:"step"`
	Detail    string    `json:"detail,omitempty"`
}

// Result reports a completed reshare on the coordinator.
type Result struct {
	ReshareID  string        `json:"reshare_id"`
	KeyID      string        `json:"key_id"`
	PublicKey  string        `json:"public_key"`
	NewParties []tss.Party   `json:"new_parties"`
	SessionID  string        `json:"session_id"`
	Duration   time.Duration `json:"duration"`
	Steps      []Event       `json:"steps"`
}
