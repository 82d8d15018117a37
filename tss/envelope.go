package tss

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
)

// Protocol names a tss-lib protocol run by a session.
type Protocol string

// The protocols a session can run.
const (
	Keygen  Protocol = "keygen"
	Sign    Protocol = "sign"
	Reshare Protocol = "reshare"
)

// SessionID binds every envelope to one run of one protocol: request,
// attempt, signer set and key (see DeriveSessionID).
type SessionID [32]byte

// DeriveSessionID hashes its labelled parts with unambiguous length
// prefixes. Every node computes it itself from the request it checked.
func DeriveSessionID(p Protocol, parts ...[]byte) SessionID {
	h := sha256.New()
	writeLP(h, []byte("triad/session/v1"))
	writeLP(h, []byte(p))
	for _, part := range parts {
		writeLP(h, part)
	}
	var id SessionID
	copy(id[:], h.Sum(nil))
	return id
}

func writeLP(h interface{ Write([]byte) (int, error) }, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// String returns the full hex form.
func (s SessionID) String() string { return hex.EncodeToString(s[:]) }

// Short returns a prefix for logs.
func (s SessionID) Short() string { return hex.EncodeToString(s[:6]) }

// IsZero reports whether s is unset.
func (s SessionID) IsZero() bool { return s == SessionID{} }

// MarshalText encodes s as hex.
func (s SessionID) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes hex.
func (s *SessionID) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("%w: session id must be 64 hex characters", ErrMalformed)
	}
	_, err := hex.Decode(s[:], b)
	if err != nil {
		return fmt.Errorf("%w: session id: %v", ErrMalformed, err)
	}
	return nil
}

// ParseSessionID decodes the hex form.
func ParseSessionID(s string) (SessionID, error) {
	var id SessionID
	err := id.UnmarshalText([]byte(s))
	return id, err
}

// Envelope carries one tss-lib message (or one Triad echo) between
// participants. From and To name participants; the transport maps them to
// nodes and tells Deliver which node authenticated the sender.
type Envelope struct {
	Session   SessionID `json:"session"`
	Protocol  Protocol  `json:"protocol"`
	From      string    `json:"from"`
	To        []string  `json:"to"`
	Broadcast bool      `json:"broadcast"`
	Round     int       `json:"round"`
	Type      string    `json:"type"`
	Payload   []byte    `json:"payload"`
}

// MaxEnvelopeBytes bounds an encoded envelope. tss-lib's largest message
// (keygen round 1, with two DLN proofs) is about 70 KB; base64 adds a third.
const MaxEnvelopeBytes = 512 << 10

// Encode returns the wire form of e.
func (e Envelope) Encode() ([]byte, error) { return json.Marshal(e) }

// DecodeEnvelope parses the wire form strictly and within MaxEnvelopeBytes.
func DecodeEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	if len(b) > MaxEnvelopeBytes {
		return e, fmt.Errorf("%w: envelope of %d bytes exceeds %d", ErrMalformed, len(b), MaxEnvelopeBytes)
	}
	if err := strictUnmarshal(b, &e); err != nil {
		return Envelope{}, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if len(e.To) > 16 {
		return Envelope{}, fmt.Errorf("%w: envelope names %d recipients", ErrMalformed, len(e.To))
	}
	return e, nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// digest identifies an envelope's content for duplicate, equivocation and
// echo checks.
func (e Envelope) digest() [32]byte {
	h := sha256.New()
	writeLP(h, []byte(e.Type))
	writeLP(h, e.Payload)
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// Party is one participant of a session: ID is unique within the session,
// Node is the Triad node (libp2p identity) that runs it, and Key is the
// tss-lib party key derived from ID.
type Party struct {
	ID   string
	Node string
}

// Key is the tss-lib party key for this participant.
func (p Party) Key() *big.Int {
	sum := sha256.Sum256([]byte("triad/party/v1/" + p.ID))
	return new(big.Int).SetBytes(sum[:])
}

// NodeParties returns participants whose IDs are their node names, as for
// keygen and signing.
func NodeParties(nodes ...string) []Party {
	ps := make([]Party, len(nodes))
	for i, n := range nodes {
		ps[i] = Party{ID: n, Node: n}
	}
	sortParties(ps)
	return ps
}

func sortParties(ps []Party) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
}
