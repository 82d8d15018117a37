package reshare

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/tss"
)

// Node is what resharing needs from the MPC node that runs it: the party
// set and the clock, the key store and pre-params, frames on its topics
// and its proposals' routes, the session runner and the incidents.
// Package node implements it (node/reshare_host.go).
type Node interface {
	// Party is this node's party; Parties all three, sorted; Peers the
	// other two.
	Party() string
	Parties() []string
	Peers() []string
	// Now is the node's clock; Context ends when the node closes.
	Now() time.Time
	Context() context.Context
	Logger() *slog.Logger
	// Count adds one to the node's named event count.
	Count(name string)
	Keys() *keystore.Store
	// PreParams takes one set of Paillier pre-params for a new share.
	PreParams(ctx context.Context) (*keygen.LocalPreParams, error)

	// HandleApp and SendApp carry the commit exchange's topics.
	HandleApp(topic string, h func(from string, payload []byte))
	SendApp(ctx context.Context, to, topic string, payload []byte) error
	// NewProposal builds a reshare proposal of every party, its session
	// ID derived by the node; Propose sends it to a peer.
	NewProposal(keyID, requestID string, threshold int, payload []byte) Proposal
	Propose(ctx context.Context, to string, p Proposal) error
	// SendEnvelope sends one tss envelope; ReportSaved tells a proposer
	// whether this node committed ("" failure) or not.
	SendEnvelope(ctx context.Context, to string, env tss.Envelope) error
	ReportSaved(ctx context.Context, to string, sid tss.SessionID, failure string) error
	// OpenRoute registers a session with the node's router (a session ID
	// opens once); CloseRoute ends it.
	OpenRoute(sid tss.SessionID) (Route, error)
	CloseRoute(sid tss.SessionID)
	// Declined is the error a session aborts with when a participant
	// declined it (node.ErrDeclined).
	Declined(r Reply) error

	// RunSession drives s over conn to its end (tss.Run), counting and
	// logging rejected envelopes as every session of the node does.
	RunSession(ctx context.Context, s *tss.Session, conn tss.Conn) error
	// RecordAbort records an aborted session as an incident.
	RecordAbort(s *tss.Session, keyID string, err error)
}

// Proposal is the part of a node's proposal a reshare reads and writes:
// the node checks the rest (its session ID among them) before it hands a
// reshare proposal over.
type Proposal struct {
	SessionID    tss.SessionID
	KeyID        string
	RequestID    string
	Participants []string
	Threshold    int
	Payload      json.RawMessage
}

// Reply is a participant's answer on a route: a decline, or whether it
// committed (Reason "" when it did).
type Reply struct{ From, Reason string }

// Route is one open session's mailbox in the node's router.
type Route struct {
	Inbox    <-chan tss.Inbound
	Declines <-chan Reply
	Saved    <-chan Reply
}
