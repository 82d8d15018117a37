package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/p2p"
	"github.com/triad-custody/triad/tss"
)

// Frame kinds.
const (
	kindEnvelope = "envelope"
	kindPropose  = "propose"
	kindDecline  = "decline"
	kindSaved    = "saved"
	kindApp      = "app"
	kindWithdraw = "withdraw"
	kindHello    = "hello"  // protocol version 2 on (versions.go)
	kindCommit   = "commit" // protocol version 3 on (keygen_commit.go)
)

// frame is what travels on the wire. Exactly one body is set.
type frame struct {
	Kind string `json:"kind"`
	// V is the frame's protocol version (versions.go): absent in version
	// 1, and on decoding an absent V reads as 1.
	V        int           `json:"v,omitempty"`
	Envelope *tss.Envelope `json:"envelope,omitempty"`
	Proposal *Proposal     `json:"proposal,omitempty"`
	Decline  *Decline      `json:"decline,omitempty"`
	Saved    *Saved        `json:"saved,omitempty"`
	App      *AppMessage   `json:"app,omitempty"`
	Withdraw *Withdraw     `json:"withdraw,omitempty"`
	Hello    *Hello        `json:"hello,omitempty"`
	Commit   *KeygenCommit `json:"commit,omitempty"`
}

// AppMessage carries a message of a layer above the signing network
// (custody requests, approvals, audit heads) under a topic.
type AppMessage struct {
	Topic   string          `json:"topic"`
	Payload json.RawMessage `json:"payload"`
}

// Saved tells a keygen's proposer that a participant persisted its share
// (or could not).
type Saved struct {
	SessionID tss.SessionID `json:"session_id"`
	Error     string        `json:"error,omitempty"`
}

// Proposal asks the other participants to open a session. Each receiver
// recomputes SessionID from the other fields and checks the request
// against its own policy before it joins.
type Proposal struct {
	Protocol  tss.Protocol  `json:"protocol"`
	SessionID tss.SessionID `json:"session_id"`
	KeyID     string        `json:"key_id"`
	RequestID string        `json:"request_id"`
	Attempt   int           `json:"attempt"`
	// Participants of the session: the signers, or every key holder for
	// keygen.
	Participants []string `json:"participants"`
	Threshold    int      `json:"threshold,omitempty"`
	// Digest is the 32-byte message for a raw signing request (canary keys
	// only once policy is in force); empty for keygen.
	Digest []byte `json:"digest,omitempty"`
	// ChildPath, when set ("m/0/7"), signs with the BIP32 non-hardened
	// child of the group key; every signer derives the tweak itself.
	ChildPath string `json:"child_path,omitempty"`
	// Payload is the typed request a signer rebuilds its digest from
	// (custody actions); opaque to the transport.
	Payload json.RawMessage `json:"payload,omitempty"`
	// ShareView is the proposer's public view of its share (hex
	// tss.KeyShare.PublicView) for signing: a partner holding another
	// sharing of the key (a stale share restored from an old backup, or a
	// reshare undecided on one side) declines at once, saying so, rather
	// than fail mid-protocol.
	ShareView string `json:"share_view,omitempty"`
}

// Withdraw tells the participants that the proposer abandoned its
// session (it failed, or a participant declined): they leave it at once
// rather than wait for its deadline. Only the proposer can withdraw.
type Withdraw struct {
	SessionID tss.SessionID `json:"session_id"`
	Reason    string        `json:"reason"`
}

// Decline tells the proposer a participant will not join, and why.
type Decline struct {
	SessionID tss.SessionID `json:"session_id"`
	Reason    string        `json:"reason"`
}

// sessionIDFor derives a proposal's session ID from its content, so that
// request, attempt, signer set, key and message are all bound to it.
func (p *Proposal) sessionIDFor() tss.SessionID {
	parts := [][]byte{[]byte(p.KeyID), []byte(p.RequestID), []byte(fmt.Sprint(p.Attempt)), []byte(fmt.Sprint(p.Threshold)), p.Digest, []byte(p.ChildPath), p.Payload}
	for _, s := range p.Participants {
		parts = append(parts, []byte(s))
	}
	return tss.DeriveSessionID(p.Protocol, parts...)
}

func (p *Proposal) validate() error {
	switch {
	case p.Protocol != tss.Keygen && p.Protocol != tss.Sign && p.Protocol != tss.Reshare:
		return fmt.Errorf("unknown protocol %q", p.Protocol)
	case !validName(p.KeyID):
		return fmt.Errorf("invalid key id %q", p.KeyID)
	case len(p.Participants) < 2 || len(p.Participants) > 8:
		return fmt.Errorf("%d participants", len(p.Participants))
	case len(p.ShareView) > 64:
		return fmt.Errorf("share view of %d characters", len(p.ShareView))
	case p.Protocol == tss.Sign && len(p.Digest) != 32:
		return fmt.Errorf("digest of %d bytes, want 32", len(p.Digest))
	case p.Attempt < 0 || p.Attempt > 16:
		return fmt.Errorf("attempt %d", p.Attempt)
	case len(p.RequestID) > 256:
		return errors.New("request id too long")
	case p.sessionIDFor() != p.SessionID:
		return errors.New("session id does not match the proposal")
	}
	return nil
}

// maxWireVersion bounds the versions a frame or hello may name: a later
// version than this node knows is refused by range, not by decoding.
const maxWireVersion = 1 << 16

func encodeFrame(f frame) ([]byte, error) {
	if f.V == 1 {
		f.V = 0 // version 1 is written without a version
	}
	return json.Marshal(f)
}

func decodeFrame(b []byte) (frame, error) {
	var f frame
	if len(b) > p2p.MaxFrameBytes {
		return f, p2p.ErrFrameSize
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return frame{}, fmt.Errorf("node: decoding frame: %w", err)
	}
	if err := f.checkVersion(); err != nil {
		return frame{}, err
	}
	if set := f.bodies(); len(set) != 1 || set[0] != f.Kind {
		return frame{}, fmt.Errorf("node: frame kind %q does not match its body", f.Kind)
	}
	return f, nil
}

// checkVersion reads an absent version as 1 and refuses versions out of
// range and a hello that is not well formed.
func (f *frame) checkVersion() error {
	switch {
	case f.V == 0:
		f.V = 1
	case f.V < 2 || f.V > maxWireVersion:
		return fmt.Errorf("node: frame of protocol version %d (version 1 is written without one)", f.V)
	}
	if f.Kind == kindHello && (f.V < 2 || f.Hello == nil || f.Hello.Min < 1 || f.Hello.Min > f.Hello.Max || f.Hello.Max > maxWireVersion) {
		return errors.New("node: malformed hello")
	}
	if f.Kind == kindCommit && f.V < commitVersion {
		return fmt.Errorf("node: a keygen commit in a frame of protocol version %d", f.V)
	}
	return nil
}

// bodies are the kinds whose body is set in f; a frame must carry exactly
// the body of its kind.
func (f *frame) bodies() []string {
	var set []string
	for _, b := range []struct {
		kind string
		set  bool
	}{{kindEnvelope, f.Envelope != nil}, {kindPropose, f.Proposal != nil}, {kindDecline, f.Decline != nil},
		{kindSaved, f.Saved != nil}, {kindApp, f.App != nil}, {kindWithdraw, f.Withdraw != nil}, {kindHello, f.Hello != nil},
		{kindCommit, f.Commit != nil}} {
		if b.set {
			set = append(set, b.kind)
		}
	}
	return set
}

// validName accepts identifiers for keys, parties and requests
// (keystore.ValidName).
func validName(s string) bool { return keystore.ValidName(s) }
