package node

import "github.com/triad-custody/triad/node/p2p"

// Transport moves frames between the three nodes (p2p.Transport): Host
// is the libp2p implementation, node/memnet the in-memory twin.
type Transport = p2p.Transport

// Transport errors and the frame bound, as package p2p defines them.
var (
	ErrUnknownPeer = p2p.ErrUnknownPeer
	ErrPeerDown    = p2p.ErrPeerDown
	ErrFrameSize   = p2p.ErrFrameSize
	ErrShortFrame  = p2p.ErrShortFrame
	ErrClosed      = p2p.ErrClosed
)

// MaxFrameBytes bounds one frame on the wire.
const MaxFrameBytes = p2p.MaxFrameBytes
