package node

import (
	"context"
	"net"
	"sync"
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
func flood(t *testing.T, targets []net.Addr, conns int) (started <-chan struct{}, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var d net.Dialer
	var opened sync.WaitGroup
	opened.Add(len(targets) * conns)
	ready := make(chan struct{})
	go func() { opened.Wait(); close(ready) }()
	for _, a := range targets {
		for range conns {
			wg.Go(func() {
				first := true
				for ctx.Err() == nil {
					c, err := d.DialContext(ctx, "tcp", a.String())
					if err != nil {
						continue
					}
					if first {
						first = false
						opened.Done()
					}
					// Held until the target drops it (its handshake
					// timeout, or a refusal) or the flood stops.
					go func() { <-ctx.Done(); c.Close() }()
					var b [1]byte
					c.Read(b[:])
					c.Close()
				}
			})
		}
	}
	return ready, func() { cancel(); wg.Wait() }
}

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
