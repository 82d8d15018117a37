package node

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// flood holds conns TCP connections open to each target, idle, as a
// hostile process on loopback would: each takes a place in the target's
// queue of connections waiting for their Noise handshake. A connection the
// target drops is opened again at once, until stop.
//
// started is closed once every one of them has been opened at least once.
// Re-openings are paced at floodRedials a second in all, so that a test
// process does not spend its two cores on its own flood.
func flood(t *testing.T, targets []net.Addr, conns int) (started <-chan struct{}, stop func()) {
	started, _, stop = floodHeld(t, targets, conns)
	return started, stop
}

// floodHeld is flood; held is how many of its connections are open now
// (the target has not closed them).
func floodHeld(t *testing.T, targets []net.Addr, conns int) (started <-chan struct{}, held func() int64, stop func()) {
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

// hostileDialer dials the targets again and again with a libp2p identity
// that nobody pins: each connection completes Noise and is refused by the
// gater, until stop.
func hostileDialer(t *testing.T, targets map[string]*Host) (stop func()) {
	t.Helper()
	k, _, _ := crypto.GenerateEd25519Key(nil)
	var peers []Peer
	for p, h := range targets {
		peers = append(peers, Peer{Party: p, ID: h.ID(), Addrs: h.h.Addrs()})
	}
	mallory, err := NewHost(HostConfig{Party: "mallory", Identity: k, DialTimeout: time.Second,
		Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}, Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for p := range targets {
		wg.Go(func() {
			for ctx.Err() == nil {
				mallory.Send(ctx, p, []byte("let me in"))
				mallory.h.Network().(*swarm.Swarm).Backoff().Clear(targets[p].ID())
			}
		})
	}
	return func() { cancel(); wg.Wait(); mallory.Close() }
}

func tcpAddrs(t *testing.T, h *Host) []net.Addr {
	t.Helper()
	var out []net.Addr
	for _, a := range h.h.Addrs() {
		na, err := manet.ToNetAddr(a)
		if err == nil {
			out = append(out, na)
		}
	}
	return out
}

// ../shared/SECURITY.md scenario 19: while a hostile process on loopback holds hundreds of
// connections open to both honest nodes (and an unpinned identity dials
// them again and again), the custodian and the exchange, whose connection
// has just dropped, reconnect and sign within one sign_timeout.
func TestConnectionFloodDoesNotStallSigning(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections")
	}
	const timeout = 20 * time.Second
	const floodConns = 300 // to each honest node
	hosts, nodes := libp2pCluster(t, clusterOpts{withShares: true, signTimeout: timeout})
	hosts["regulator"].Close() // no other pair to fail over to
	targets := append(tcpAddrs(t, hosts["custodian"]), tcpAddrs(t, hosts["exchange"])...)
	started, stopFlood := flood(t, targets, floodConns)
	defer stopFlood()
	stopDialer := hostileDialer(t, map[string]*Host{"custodian": hosts["custodian"], "exchange": hosts["exchange"]})
	defer stopDialer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the flood did not start")
	}
	// The honest pair's connection drops while the flood runs: they have
	// to be let in again.
	hosts["custodian"].h.Network().ClosePeer(hosts["exchange"].ID())
	if err := hosts["custodian"].WaitDisconnected(ctx, "exchange"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := nodes["custodian"].Sign(context.Background(), SignRequest{KeyID: signReq("").KeyID, RequestID: "flood",
		Digest: signReq("flood").Digest, Partner: "exchange"})
	if err != nil {
		t.Fatalf("signing under a connection flood: %v after %v", err, time.Since(start))
	}
	if el := time.Since(start); el > timeout {
		t.Fatalf("took %v against a %v sign_timeout", el, timeout)
	}
	verifySig(t, fixturePub(t), res.Signature)
}

// Scenario 19: a flood of 1100 connections from loopback, the pinned
// peers' own address, to the regulator, each stalled in its Noise
// negotiation. The regulator used to hold every one of them until
// libp2p's 15 s accept timeout (up to its transient scope's 1024, after
// which a pinned peer's new connection was refused). Now at most
// maxPendingPerIP of them wait for their handshake, the rest are closed
// before Noise, and the exchange, dialing from its pinned address,
// connects within a small bound and signs with the regulator.
func TestPinnedPeerConnectsDuringHandshakeFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("opens more than a thousand connections")
	}
	const floodConns = 1100
	hosts, nodes := libp2pCluster(t, clusterOpts{withShares: true, signTimeout: 20 * time.Second})
	hosts["custodian"].Close() // no other pair to fail over to
	reg, ex := hosts["regulator"], hosts["exchange"]
	ex.h.Network().ClosePeer(reg.ID())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ex.WaitDisconnected(ctx, "regulator"); err != nil {
		t.Fatal(err)
	}
	started, held, stopFlood := floodHeld(t, tcpAddrs(t, reg), floodConns)
	defer stopFlood()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the flood did not start")
	}
	// Until the regulator has taken in every one of them (its accept loop
	// lags the kernel's): held before their handshake, or refused before
	// it. The flood has no event to wait on, so this one wait polls,
	// within its deadline.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for reg.inbound.Load() < floodConns {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the regulator took in %d connections of the flood", reg.inbound.Load())
		}
	}
	// At most maxPendingPerIP wait for their handshake (without the bound:
	// all of them). What the flood sees open also counts those still in
	// the kernel's accept queue and refused ones whose closing it has not
	// read yet: a few hundred on a loaded machine.
	if h := held(); h > 2*maxPendingAll {
		t.Fatalf("the regulator holds %d unauthenticated connections from one address", h)
	}
	// The exchange dials the regulator (from its listening port, pinned
	// at the regulator): one deadline for the connection, small against
	// the 15 s a flooded host used to keep it waiting.
	cctx, ccancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer ccancel()
	if err := ex.h.Connect(cctx, peer.AddrInfo{ID: reg.ID(), Addrs: reg.h.Addrs()}); err != nil {
		t.Fatalf("the exchange could not connect to the flooded regulator: %v (%d refused)", err, reg.Refused())
	}
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	res, err := nodes["exchange"].Sign(sctx, SignRequest{KeyID: signReq("").KeyID, RequestID: "pending-flood",
		Digest: signReq("pending-flood").Digest, Partner: "regulator"})
	if err != nil {
		t.Fatalf("signing under a handshake flood: %v", err)
	}
	verifySig(t, fixturePub(t), res.Signature)
}

// readsAnything reports whether a host at a answers a multistream-select
// header sent from local (the start of every libp2p connection, before
// Noise), or closes the connection without a byte.
func readsAnything(t *testing.T, local, a net.Addr) bool {
	t.Helper()
	d := net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", a.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("\x13/multistream/1.0.0\n")); err != nil {
		return false
	}
	var b [1]byte
	n, _ := c.Read(b[:])
	return n > 0
}

// ../shared/SECURITY.md scenario 19: a host whose pinned peers all have IP addresses closes a
// connection from any other address before Noise starts, and dials a
// pinned peer only at its pinned addresses.
func TestGaterRefusesUnknownAddressBeforeNoise(t *testing.T) {
	exKey, _, _ := crypto.GenerateEd25519Key(nil)
	regKey, _, _ := crypto.GenerateEd25519Key(nil)
	exID, _ := peer.IDFromPrivateKey(exKey)
	regID, _ := peer.IDFromPrivateKey(regKey)
	exAddr := ma.StringCast("/ip4/127.0.0.2/tcp/7102")
	k, _, _ := crypto.GenerateEd25519Key(nil)
	h, err := NewHost(HostConfig{Party: "custodian", Identity: k, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Peers: []Peer{{Party: "exchange", ID: exID, Addrs: []ma.Multiaddr{exAddr}},
			{Party: "regulator", ID: regID, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.3/tcp/7103")}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	target := tcpAddrs(t, h)[0]
	if readsAnything(t, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9)}, target) {
		t.Fatal("a connection from an address no pinned peer has got an answer")
	}
	if h.Refused() == 0 {
		t.Fatal("refusal not counted")
	}
	if !readsAnything(t, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, target) {
		t.Fatal("a connection from a pinned peer's address was refused before Noise")
	}
	g := gater{h}
	if !g.InterceptAddrDial(exID, exAddr) {
		t.Fatal("the exchange's pinned address may not be dialed")
	}
	if g.InterceptAddrDial(exID, ma.StringCast("/ip4/10.9.9.9/tcp/7102")) {
		t.Fatal("an address the exchange advertised but is not pinned at was dialed")
	}
	// A peer without a pinned address may come from anywhere: then so may
	// every connection, and only Noise tells them apart.
	open, err := NewHost(HostConfig{Party: "custodian", Identity: k, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Peers: []Peer{{Party: "exchange", ID: exID}, {Party: "regulator", ID: regID, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.3/tcp/7103")}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if !readsAnything(t, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9)}, tcpAddrs(t, open)[0]) {
		t.Fatal("with a peer of unknown address, a connection was refused before Noise")
	}
}
