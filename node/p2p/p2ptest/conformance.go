package p2ptest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/triad-custody/triad/node/p2p"
)

type received struct {
	from  string
	frame string
}

// Conformance is what every Transport must do; the libp2p host and the
// in-memory twin both run it. ts holds the custodian, the exchange and
// the regulator; kill takes one of them down.
func Conformance(t *testing.T, ts map[string]p2p.Transport, kill func(party string)) {
	t.Helper()
	got := map[string]chan received{}
	for p, tr := range ts {
		ch := make(chan received, 16)
		got[p] = ch
		tr.SetHandler(func(from string, f []byte) { ch <- received{from, string(f)} })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Every pair, both directions; the receiver learns the authenticated
	// sender.
	for a, ta := range ts {
		for b := range ts {
			if a == b {
				continue
			}
			if err := ta.Send(ctx, b, []byte("hello "+b)); err != nil {
				t.Fatalf("%s→%s: %v", a, b, err)
			}
			select {
			case r := <-got[b]:
				if r.from != a || r.frame != "hello "+b {
					t.Fatalf("%s got %+v, want from %s", b, r, a)
				}
			case <-ctx.Done():
				t.Fatalf("%s→%s: not delivered", a, b)
			}
			if !ta.Connected(b) {
				t.Fatalf("%s not connected to %s after a send", a, b)
			}
		}
	}
	if err := ts["custodian"].Send(ctx, "mallory", []byte("x")); !errors.Is(err, p2p.ErrUnknownPeer) {
		t.Fatalf("send to unknown party: %v", err)
	}
	if err := ts["custodian"].Send(ctx, "exchange", make([]byte, p2p.MaxFrameBytes+1)); !errors.Is(err, p2p.ErrFrameSize) {
		t.Fatalf("oversized frame: %v", err)
	}
	kill("regulator")
	start := time.Now()
	if err := ts["custodian"].Send(ctx, "regulator", []byte("x")); !errors.Is(err, p2p.ErrPeerDown) {
		t.Fatalf("send to a dead peer: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("send to a dead peer did not fail promptly")
	}
}

// NewHosts starts libp2p hosts on 127.0.0.1 port 0 that pin each other.
// Each host knows the addresses of the hosts started before it; the rest
// dial in, as in the multi-process tests. They close with the test.
func NewHosts(t testing.TB, names ...string) map[string]*p2p.Host {
	t.Helper()
	keys := map[string]crypto.PrivKey{}
	ids := map[string]peer.ID{}
	for _, n := range names {
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		keys[n] = k
		ids[n], _ = peer.IDFromPrivateKey(k)
	}
	hosts := map[string]*p2p.Host{}
	for _, n := range names {
		var peers []p2p.Peer
		for _, o := range names {
			if o == n {
				continue
			}
			p := p2p.Peer{Party: o, ID: ids[o]}
			if h, ok := hosts[o]; ok {
				p.Addrs = h.Libp2p().Addrs()
			}
			peers = append(peers, p)
		}
		h, err := p2p.NewHost(p2p.HostConfig{Party: n, Identity: keys[n], Listen: Loopback(), Peers: peers})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		hosts[n] = h
	}
	// The last host knows everyone; it dials, so all addresses are learnt.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range names {
		hosts[n].Connect(ctx)
	}
	return hosts
}

// Loopback is a listen address on 127.0.0.1, port 0.
func Loopback() []ma.Multiaddr { return []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")} }
