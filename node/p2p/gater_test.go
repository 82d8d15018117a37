package p2p_test

import (
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/triad-custody/triad/node/p2p"
	"github.com/triad-custody/triad/node/p2p/p2ptest"
)

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
	h, err := p2p.NewHost(p2p.HostConfig{Party: "custodian", Identity: k, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Peers: []p2p.Peer{{Party: "exchange", ID: exID, Addrs: []ma.Multiaddr{exAddr}},
			{Party: "regulator", ID: regID, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.3/tcp/7103")}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	target := p2ptest.TCPAddrs(t, h)[0]
	if readsAnything(t, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9)}, target) {
		t.Fatal("a connection from an address no pinned peer has got an answer")
	}
	if h.Refused() == 0 {
		t.Fatal("refusal not counted")
	}
	if !readsAnything(t, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, target) {
		t.Fatal("a connection from a pinned peer's address was refused before Noise")
	}
	g := p2p.Gater(h)
	if !g.InterceptAddrDial(exID, exAddr) {
		t.Fatal("the exchange's pinned address may not be dialed")
	}
	if g.InterceptAddrDial(exID, ma.StringCast("/ip4/10.9.9.9/tcp/7102")) {
		t.Fatal("an address the exchange advertised but is not pinned at was dialed")
	}
	// A peer without a pinned address may come from anywhere: then so may
	// every connection, and only Noise tells them apart.
	open, err := p2p.NewHost(p2p.HostConfig{Party: "custodian", Identity: k, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Peers: []p2p.Peer{{Party: "exchange", ID: exID}, {Party: "regulator", ID: regID, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.3/tcp/7103")}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if !readsAnything(t, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9)}, p2ptest.TCPAddrs(t, open)[0]) {
		t.Fatal("with a peer of unknown address, a connection was refused before Noise")
	}
}
