// Package p2p is a node's network: the Transport seam between the router
// and the wire (interface, errors, frame bound; node/memnet is its
// in-memory twin) and Host, its libp2p implementation.
//
// Host speaks TCP with Noise and pins the other parties by peer ID
// (host.go). Its connection gater (gater.go) admits only pinned peers: by
// address before Noise when every pinned peer has an IP address, by peer
// ID after it, and it dials a pinned peer only at its pinned addresses.
// Unauthenticated inbound connections are bounded per IP address and in
// all, below the resource manager's limits (pending.go), so that a flood
// cannot keep a pinned peer out (../shared/SECURITY.md scenario 19). A reshare that
// replaces a party re-pins it while the host runs (repin.go).
//
// Each frame travels on its own stream, length-prefixed and at most
// MaxFrameBytes; a reader's buffer grows with the bytes that arrived, not
// with the length declared. The sender a handler receives is the peer
// Noise authenticated, never a claim inside the frame.
//
// p2ptest holds what tests share: loopback hosts, the conformance test
// every Transport passes and hostile traffic.
package p2p
