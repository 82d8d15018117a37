package p2ptest

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/triad-custody/triad/node/p2p"
)

// Flood holds conns TCP connections open to each target, idle, as a
// hostile process on loopback would: each takes a place in the target's
// queue of connections waiting for their Noise handshake. A connection the
// target drops is opened again at once, until stop.
//
// started is closed once every one of them has been opened at least once.
// Re-openings are paced at floodRedials a second in all, so that a test
// process does not spend its two cores on its own flood.
func Flood(t *testing.T, targets []net.Addr, conns int) (started <-chan struct{}, stop func()) {
	started, _, stop = FloodHeld(t, targets, conns)
	return started, stop
}

// FloodHeld is Flood; held is how many of its connections are open now
// (the target has not closed them).
func FloodHeld(t *testing.T, targets []net.Addr, conns int) (started <-chan struct{}, held func() int64, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var d net.Dialer
	var open atomic.Int64
	redial := make(chan struct{})
	wg.Go(func() {
		tick := time.NewTicker(time.Second / floodRedials)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				select {
				case redial <- struct{}{}:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	})
	var opened sync.WaitGroup
	opened.Add(len(targets) * conns)
	ready := make(chan struct{})
	go func() { opened.Wait(); close(ready) }()
	for _, a := range targets {
		for range conns {
			wg.Go(func() {
				first := true
				for ctx.Err() == nil {
					if !first {
						select {
						case <-redial:
						case <-ctx.Done():
							return
						}
					}
					c, err := d.DialContext(ctx, "tcp", a.String())
					if err != nil {
						continue
					}
					if first {
						first = false
						opened.Done()
					}
					// Past the multistream-select header and into the
					// Noise negotiation, then silent: held until the
					// target drops it (its handshake timeout, or a
					// refusal) or the flood stops.
					c.Write([]byte("\x13/multistream/1.0.0\n\x07/noise\n"))
					open.Add(1)
					go func() { <-ctx.Done(); c.Close() }()
					for b := make([]byte, 64); ; {
						if _, err := c.Read(b); err != nil {
							break
						}
					}
					open.Add(-1)
					c.Close()
				}
			})
		}
	}
	return ready, open.Load, func() { cancel(); wg.Wait() }
}

// floodRedials bounds how often a flood re-opens a dropped connection.
const floodRedials = 2000

// HostileDialer dials the targets again and again with a libp2p identity
// that nobody pins: each connection completes Noise and is refused by the
// gater, until stop.
func HostileDialer(t *testing.T, targets map[string]*p2p.Host) (stop func()) {
	t.Helper()
	k, _, _ := crypto.GenerateEd25519Key(nil)
	var peers []p2p.Peer
	for p, h := range targets {
		peers = append(peers, p2p.Peer{Party: p, ID: h.ID(), Addrs: h.Libp2p().Addrs()})
	}
	mallory, err := p2p.NewHost(p2p.HostConfig{Party: "mallory", Identity: k, DialTimeout: time.Second,
		Listen: Loopback(), Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for p := range targets {
		wg.Go(func() {
			for ctx.Err() == nil {
				mallory.Send(ctx, p, []byte("let me in"))
				mallory.Libp2p().Network().(*swarm.Swarm).Backoff().Clear(targets[p].ID())
			}
		})
	}
	return func() { cancel(); wg.Wait(); mallory.Close() }
}

// TCPAddrs are the TCP addresses h listens on.
func TCPAddrs(t *testing.T, h *p2p.Host) []net.Addr {
	t.Helper()
	var out []net.Addr
	for _, a := range h.Libp2p().Addrs() {
		na, err := manet.ToNetAddr(a)
		if err == nil {
			out = append(out, na)
		}
	}
	return out
}
