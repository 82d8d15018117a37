package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Protocol versions of the peer protocol: node frames (proposals,
// envelopes, declines, saved, withdraws, app messages) and the custody
// messages carried in app frames. Peers decode strictly (unknown fields
// are refused), so a field new to the wire comes under a new version and
// a peer that speaks only an older one is sent the older format.
//
//	1  the format before versioning: no "v" field in a frame nor in a
//	   custody message; no hello. A frame without "v" is version 1.
//	2  frames carry "v":2; the "hello" frame kind ({min, max, ack})
//	   announces a node's supported range; custody messages carry "v":2.
//	3  the "commit" frame kind: a keygen's share is put in force by its
//	   parties' signed commits, not by the proposer (keygen_commit.go); a
//	   keygen needs version 3 at every party and is refused otherwise.
//	   Signing, resharing and custody messages are as in version 2.
//
// Negotiation: before its first frame to a peer whose range it does not
// know, a node (max ≥ 2) sends a hello, then frames of its own minimum
// version; a peer answers a hello with its own (ack). Once a peer's range
// is known, a node sends min(own max, peer max). A version-1 node drops the
// hello as a malformed frame (a warning on its side, at most once per
// helloEvery), and every frame it receives is in version 1.
//
// Refusal: a hello whose range does not overlap this node's, or a frame of
// a version outside it, is refused with ErrProtocolVersion naming both
// sides' versions: counted (version_refused), logged and recorded as an
// incident (once per peer and mismatch), and sends to that peer fail at
// once with the same error. A run of version-1 frames (rollbackAfter) from
// a peer believed to speak version 2 (a peer rolled back to an older
// release) makes the node forget the peer's range and say hello again; a
// few are normal (sent before the peer learnt this node's range).
const (
	ProtocolMin = 1
	ProtocolMax = 3
)

// helloEvery bounds how often a node says hello to a peer whose range it
// does not know (a version-1 peer never answers); rollbackAfter is the run
// of version-1 frames after which a peer known to speak version 2 is taken
// to have been rolled back to an older release.
const (
	helloEvery    = 10 * time.Second
	rollbackAfter = 8
)

// ErrProtocolVersion: a peer's protocol versions do not overlap this
// node's.
var ErrProtocolVersion = errors.New("node: peer protocol version outside this node's supported range")

// Hello announces the protocol versions a node speaks.
type Hello struct {
	Min int `json:"min"`
	Max int `json:"max"`
	// Ack marks an answer to a hello: it is not answered again.
	Ack bool `json:"ack,omitempty"`
}

// peerVersion is what a node knows of one peer's versions.
type peerVersion struct {
	known    bool // min, max from the peer's hello (or inferred)
	min, max int
	refused  string    // the error of a non-overlapping range, once recorded
	v1run    int       // version-1 frames in a row from a peer known to speak 2
	helloAt  time.Time // last hello sent to the peer (zero: never)
}

// versions is a node's supported range and its view of each peer's.
type versions struct {
	min, max int
	mu       sync.Mutex
	peers    map[string]*peerVersion
}

func newVersions(min, max int) (*versions, error) {
	if min == 0 && max == 0 {
		min, max = ProtocolMin, ProtocolMax
	}
	if min < ProtocolMin || max > ProtocolMax || min > max {
		return nil, fmt.Errorf("node: protocol versions %d..%d outside the known %d..%d", min, max, ProtocolMin, ProtocolMax)
	}
	return &versions{min: min, max: max, peers: map[string]*peerVersion{}}, nil
}

func (v *versions) peer(p string) *peerVersion {
	pv := v.peers[p]
	if pv == nil {
		pv = &peerVersion{}
		v.peers[p] = pv
	}
	return pv
}

// mismatch is the error naming both sides' versions.
func (v *versions) mismatch(peer string, pmin, pmax int) error {
	return fmt.Errorf("%w: %s speaks protocol version %s, this node %s", ErrProtocolVersion, peer, span(pmin, pmax), span(v.min, v.max))
}

func span(min, max int) string {
	if min == max {
		return fmt.Sprint(min)
	}
	return fmt.Sprintf("%d..%d", min, max)
}

// forSend is the version of the next frame to peer, whether a hello is due
// first (the peer's range is unknown), or the mismatch error.
func (v *versions) forSend(peer string, now time.Time) (ver int, hello bool, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	pv := v.peer(peer)
	if !pv.known && v.max >= 2 && (pv.helloAt.IsZero() || now.Sub(pv.helloAt) >= helloEvery) {
		pv.helloAt = now
		hello = true
	}
	ver, err = v.speaks(peer, pv)
	return ver, hello, err
}

// speaks is the version to send a peer (pv nil or unknown: this node's
// minimum), or the mismatch; v.mu is held.
func (v *versions) speaks(peer string, pv *peerVersion) (int, error) {
	switch {
	case pv == nil || !pv.known:
		return v.min, nil
	case pv.max < v.min || pv.min > v.max:
		return 0, v.mismatch(peer, pv.min, pv.max)
	}
	return min(v.max, pv.max), nil
}

// learn records a peer's range from its hello (or inferred from a frame).
// It returns the mismatch error the first time a non-overlapping range is
// seen (nil after, and for overlapping ranges).
func (v *versions) learn(peer string, pmin, pmax int) (refused error, first bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	pv := v.peer(peer)
	pv.known, pv.min, pv.max, pv.v1run = true, pmin, pmax, 0
	if pmax < v.min || pmin > v.max {
		err := v.mismatch(peer, pmin, pmax)
		first = pv.refused != err.Error()
		pv.refused = err.Error()
		return err, first
	}
	pv.refused = ""
	return nil, false
}

// checkFrame accepts a frame of version fv from peer, or names the
// mismatch (the first time, first is true). A run of version-1 frames from
// a peer known to speak 2 or more makes the node forget the peer's range
// (it was rolled back).
func (v *versions) checkFrame(peer string, fv int) (refused error, first bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	pv := v.peer(peer)
	if fv < v.min || fv > v.max {
		if !pv.known { // a peer that never said hello: it speaks fv
			pv.known, pv.min, pv.max = true, fv, fv
		}
		err := fmt.Errorf("%w: %s sent protocol version %d, this node speaks %s", ErrProtocolVersion, peer, fv, span(v.min, v.max))
		first = pv.refused != err.Error()
		pv.refused = err.Error()
		return err, first
	}
	switch {
	case fv >= 2:
		pv.v1run = 0
	case pv.known && pv.max >= 2:
		// Frames sent before the peer learnt this node's range are
		// version 1 too: only a run of them means a rolled-back peer.
		if pv.v1run++; pv.v1run >= rollbackAfter {
			pv.known, pv.v1run, pv.helloAt = false, 0, time.Time{}
		}
	}
	return nil, false
}

// PeerProtocol is the protocol version this node speaks to peer now: the
// version of its next frame (0 when the peer's versions do not overlap
// this node's).
func (n *Node) PeerProtocol(peer string) int {
	n.ver.mu.Lock()
	defer n.ver.mu.Unlock()
	v, err := n.ver.speaks(peer, n.ver.peers[peer])
	if err != nil {
		return 0
	}
	return v
}

// PeerVersions is what a node knows of one peer's protocol versions
// (GET /v1/status).
type PeerVersions struct {
	// Known: Min..Max are the peer's range from its hello (or, for a peer
	// that sent a frame of a version outside this node's range and never
	// said hello, that version). A peer of version 1 never says hello.
	Known bool `json:"known"`
	Min   int  `json:"min,omitempty"`
	Max   int  `json:"max,omitempty"`
	// Speaks is the version of this node's next frame to the peer: the
	// highest both know, this node's minimum while the peer's range is
	// unknown, 0 when the ranges do not overlap.
	Speaks int `json:"speaks"`
	// Refused is the error naming both sides' versions when they do not
	// overlap, or the last frame of a version this node does not speak.
	Refused string `json:"refused,omitempty"`
}

// PeerVersions reports what this node knows of peer's protocol versions.
func (n *Node) PeerVersions(peer string) PeerVersions {
	n.ver.mu.Lock()
	defer n.ver.mu.Unlock()
	var out PeerVersions
	pv := n.ver.peers[peer]
	if pv != nil && pv.known {
		out.Known, out.Min, out.Max = true, pv.min, pv.max
	}
	if v, err := n.ver.speaks(peer, pv); err != nil {
		out.Refused = err.Error()
	} else {
		out.Speaks = v
	}
	if pv != nil && out.Refused == "" {
		out.Refused = pv.refused
	}
	return out
}

// ProtocolRange is the range of protocol versions this node speaks.
func (n *Node) ProtocolRange() (min, max int) { return n.ver.min, n.ver.max }

// encodeFor encodes f in the version peer to speaks, saying hello first
// when the peer's range is unknown.
func (n *Node) encodeFor(ctx context.Context, to string, f frame) ([]byte, error) {
	ver, hello, err := n.ver.forSend(to, n.opt.Now())
	if err != nil {
		n.counts.add("version_refused_send")
		return nil, err
	}
	if hello {
		n.sendHello(ctx, to, false)
	}
	f.V = 0 // version 1: no field
	if ver >= 2 {
		f.V = ver
	}
	return encodeFrame(f)
}

// sendHello announces this node's range to peer (a hello frame is always
// of this node's highest version).
func (n *Node) sendHello(ctx context.Context, to string, ack bool) {
	b, err := encodeFrame(frame{Kind: kindHello, V: n.ver.max, Hello: &Hello{Min: n.ver.min, Max: n.ver.max, Ack: ack}})
	if err == nil {
		err = n.t.Send(ctx, to, b)
	}
	if err != nil {
		n.log.Debug("hello not sent", "peer", to, "err", err)
	}
}

// receive decodes and version-checks one inbound frame; hellos are
// handled here. ok is false when the frame is consumed or refused.
func (n *Node) receive(from string, b []byte) (f frame, ok bool) {
	f, err := decodeFrame(b)
	if err == nil && (f.Kind == kindHello && n.ver.max < 2 || f.Kind == kindCommit && n.ver.max < commitVersion) {
		err = fmt.Errorf("node: frame kind %q unknown to protocol version %d", f.Kind, n.ver.max)
	}
	if err != nil {
		n.counts.add("malformed_frame")
		n.log.Warn("dropped malformed frame", "peer", from, "err", err)
		return frame{}, false
	}
	if f.Kind == kindHello {
		refused, first := n.ver.learn(from, f.Hello.Min, f.Hello.Max)
		n.versionRefused(from, refused, first)
		if !f.Hello.Ack && n.ctx.Err() == nil {
			// Not on the transport's goroutine, and not in n.wg: a send
			// bounded by the node's context, which Close cancels.
			go func() {
				ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
				defer cancel()
				n.sendHello(ctx, from, true)
			}()
		}
		return frame{}, false
	}
	if refused, first := n.ver.checkFrame(from, f.V); refused != nil {
		n.versionRefused(from, refused, first)
		return frame{}, false
	}
	return f, true
}

// versionRefused counts, logs and (the first time) records a refused peer.
func (n *Node) versionRefused(from string, err error, first bool) {
	if err == nil {
		return
	}
	n.counts.add("version_refused")
	if !first {
		n.log.Debug("refused peer protocol version", "peer", from, "err", err)
		return
	}
	n.log.Error("refused peer protocol version", "peer", from, "err", err)
	n.mu.Lock()
	n.addIncidentLocked(Incident{Time: n.opt.Now(), Protocol: "version", Culprits: []string{from}, Error: err.Error()})
	n.mu.Unlock()
}
