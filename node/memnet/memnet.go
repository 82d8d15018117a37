// Package memnet is the in-memory twin of a node's libp2p transport, for
// tests of the layers above it: Network authenticates senders by
// construction and can drop, delay, isolate and intercept frames, and
// lose, duplicate and reorder them at random (SetChaos). It passes the
// same transport conformance test as the libp2p host
// (p2ptest.Conformance).
package memnet

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"github.com/triad-custody/triad/node/p2p"
)

// Network is the in-memory twin of the libp2p transport for tests of
// the layers above it. It authenticates senders by construction and can
// drop, delay, isolate and intercept frames, and lose, duplicate and
// reorder them at random (SetChaos).
type Network struct {
	mu        sync.Mutex
	nodes     map[string]*memTransport
	isolated  map[string]bool
	delay     time.Duration
	intercept func(from, to string, frame []byte) [][]byte
	chaos     *Chaos
	rng       *rand.Rand // under mu: chaos's seeded draws
}

// Chaos is random, seeded loss, duplication and reordering of frames
// (../shared/SECURITY.md scenario 14): each frame is dropped with probability Drop, else
// delivered twice with probability Dup, and each copy is held back by up
// to MaxHold with probability Reorder, so later frames overtake it.
type Chaos struct {
	Seed               int64
	Drop, Dup, Reorder float64
	MaxHold            time.Duration
}

// New returns an empty network.
func New() *Network {
	return &Network{nodes: map[string]*memTransport{}, isolated: map[string]bool{}}
}

// Join adds a node and returns its transport.
func (n *Network) Join(party string) p2p.Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := &memTransport{net: n, self: party}
	n.nodes[party] = t
	return t
}

// Isolate cuts party off (true) or heals it (false).
func (n *Network) Isolate(party string, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[party] = on
}

// Delay holds every frame for d before delivery (0 delivers at once).
func (n *Network) Delay(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delay = d
}

// Intercept installs f, which sees every frame and returns the frames to
// deliver instead: none to drop it, several to duplicate, changed ones to
// play a malicious sender. nil removes it.
func (n *Network) Intercept(f func(from, to string, frame []byte) [][]byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.intercept = f
}

// SetChaos applies c to every frame from now on; nil stops it.
func (n *Network) SetChaos(c *Chaos) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.chaos = c
	if c != nil {
		n.rng = rand.New(rand.NewSource(c.Seed))
	}
}

// scatter applies the chaos to frames: which copies go, and after how long.
func (n *Network) scatter(frames [][]byte) (out [][]byte, holds []time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.chaos
	if c == nil {
		return frames, make([]time.Duration, len(frames))
	}
	for _, f := range frames {
		if n.rng.Float64() < c.Drop {
			continue
		}
		copies := 1
		if n.rng.Float64() < c.Dup {
			copies = 2
		}
		for i := 0; i < copies; i++ {
			var hold time.Duration
			if c.MaxHold > 0 && n.rng.Float64() < c.Reorder {
				hold = time.Duration(n.rng.Int63n(int64(c.MaxHold)))
			}
			out, holds = append(out, f), append(holds, hold)
		}
	}
	return out, holds
}

type memTransport struct {
	net     *Network
	self    string
	mu      sync.Mutex
	handler func(string, []byte)
	closed  bool
}

func (t *memTransport) Self() string { return t.self }

func (t *memTransport) SetHandler(h func(string, []byte)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.handler = h
}

func (t *memTransport) Connected(to string) bool {
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	dst, ok := n.nodes[to]
	return ok && !n.isolated[to] && !n.isolated[t.self] && !dst.isClosed() && !t.isClosed()
}

func (t *memTransport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

func (t *memTransport) Send(ctx context.Context, to string, frame []byte) error {
	if len(frame) > p2p.MaxFrameBytes {
		return fmt.Errorf("%w: %d bytes", p2p.ErrFrameSize, len(frame))
	}
	if t.isClosed() {
		return p2p.ErrClosed
	}
	n := t.net
	n.mu.Lock()
	dst, ok := n.nodes[to]
	down := !ok || n.isolated[to] || n.isolated[t.self]
	delay, icpt := n.delay, n.intercept
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", p2p.ErrUnknownPeer, to)
	}
	if down || dst.isClosed() {
		return fmt.Errorf("%w: %s", p2p.ErrPeerDown, to)
	}
	frames := [][]byte{append([]byte(nil), frame...)}
	if icpt != nil {
		frames = icpt(t.self, to, frames[0])
	}
	deliver := func(frames [][]byte) func() {
		return func() {
			dst.mu.Lock()
			h, closed := dst.handler, dst.closed
			dst.mu.Unlock()
			if h == nil || closed {
				return
			}
			for _, f := range frames {
				h(t.self, f)
			}
		}
	}
	frames, holds := n.scatter(frames)
	var now [][]byte
	for i, f := range frames {
		if holds[i] > 0 {
			time.AfterFunc(delay+holds[i], deliver([][]byte{f}))
		} else {
			now = append(now, f)
		}
	}
	if len(now) == 0 {
		return nil
	}
	if delay > 0 {
		time.AfterFunc(delay, deliver(now))
		return nil
	}
	go deliver(now)() // as on a network: the sender does not run the receiver
	return nil
}

func (t *memTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}
