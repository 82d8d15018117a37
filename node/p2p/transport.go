package p2p

import (
	"context"
	"errors"
)

// Transport moves frames between the three nodes. The sender a handler
// receives is the party the transport authenticated, never a claim made
// inside the frame.
type Transport interface {
	// Self is this node's party name.
	Self() string
	// Send delivers one frame to party to, or fails at once if to cannot
	// be reached.
	Send(ctx context.Context, to string, frame []byte) error
	// SetHandler installs the receiver of inbound frames. It is called
	// before Start and only once.
	SetHandler(func(from string, frame []byte))
	// Connected reports whether party to is reachable now.
	Connected(to string) bool
	Close() error
}

// Transport errors (their text keeps the "node:" prefix the daemon's
// logs and errors have always shown).
var (
	ErrUnknownPeer = errors.New("node: unknown peer")
	ErrPeerDown    = errors.New("node: peer unreachable")
	ErrFrameSize   = errors.New("node: frame too large")
	ErrShortFrame  = errors.New("node: frame header or body cut short")
	ErrClosed      = errors.New("node: transport closed")
)

// MaxFrameBytes bounds one frame on the wire.
const MaxFrameBytes = 1 << 20
