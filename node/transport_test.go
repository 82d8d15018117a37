package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/triad-custody/triad/node/memnet"
)

type received struct {
	from  string
	frame string
}

// transportConformance is what every Transport must do; the libp2p host
// and the in-memory twin both run it.
func transportConformance(t *testing.T, ts map[string]Transport, kill func(party string)) {
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
	if err := ts["custodian"].Send(ctx, "mallory", []byte("x")); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to unknown party: %v", err)
	}
	if err := ts["custodian"].Send(ctx, "exchange", make([]byte, MaxFrameBytes+1)); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("oversized frame: %v", err)
	}
	kill("regulator")
	start := time.Now()
	if err := ts["custodian"].Send(ctx, "regulator", []byte("x")); !errors.Is(err, ErrPeerDown) {
		t.Fatalf("send to a dead peer: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("send to a dead peer did not fail promptly")
	}
}

func TestMemTransportConformance(t *testing.T) {
	net := memnet.New()
	ts := map[string]Transport{}
	for _, p := range parties {
		ts[p] = net.Join(p)
	}
	transportConformance(t, ts, func(p string) { ts[p].Close() })
}

func TestHostConformance(t *testing.T) {
	hosts := newHosts(t, parties...)
	ts := map[string]Transport{}
	for p, h := range hosts {
		ts[p] = h
	}
	transportConformance(t, ts, func(p string) { hosts[p].Close() })
}

// newHosts starts libp2p hosts on 127.0.0.1 port 0 that pin each other.
// Each host knows the addresses of the hosts started before it; the rest
// dial in, as in the multi-process tests.
func newHosts(t testing.TB, names ...string) map[string]*Host {
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
	hosts := map[string]*Host{}
	for _, n := range names {
		var peers []Peer
		for _, o := range names {
			if o == n {
				continue
			}
			p := Peer{Party: o, ID: ids[o]}
			if h, ok := hosts[o]; ok {
				p.Addrs = h.h.Addrs()
			}
			peers = append(peers, p)
		}
		h, err := NewHost(HostConfig{Party: n, Identity: keys[n], Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}, Peers: peers})
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

// SECURITY.md scenario 19: an unknown peer is refused by the connection gater.
func TestUnknownPeerRefused(t *testing.T) {
	hosts := newHosts(t, "custodian", "exchange")
	k, _, _ := crypto.GenerateEd25519Key(nil)
	// Mallory pins the custodian, but the custodian does not pin Mallory.
	mallory, err := NewHost(HostConfig{Party: "mallory", Identity: k, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Peers: []Peer{{Party: "custodian", ID: hosts["custodian"].ID(), Addrs: hosts["custodian"].h.Addrs()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer mallory.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mallory.Send(ctx, "custodian", []byte("let me in")); err == nil {
		t.Fatal("an unknown peer could send to the custodian")
	}
	if hosts["custodian"].Refused() == 0 {
		t.Fatal("refusal not counted")
	}
	if hosts["custodian"].h.Network().Connectedness(mallory.ID()) == network.Connected {
		t.Fatal("custodian kept a connection to an unknown peer")
	}
}

// SECURITY.md scenario 20: a pinned peer's address answered by a different key is
// refused: Noise proves the remote identity, and it is not the pinned one.
func TestPinnedAddressWithOtherKeyRefused(t *testing.T) {
	hosts := newHosts(t, "custodian", "exchange")
	impostorKey, _, _ := crypto.GenerateEd25519Key(nil)
	impostor, err := NewHost(HostConfig{Party: "exchange", Identity: impostorKey, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Peers: []Peer{{Party: "custodian", ID: hosts["custodian"].ID()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer impostor.Close()
	// The regulator pins the real exchange's ID but is told the impostor's
	// address.
	regKey, _, _ := crypto.GenerateEd25519Key(nil)
	reg, err := NewHost(HostConfig{Party: "regulator", Identity: regKey, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Peers: []Peer{{Party: "exchange", ID: hosts["exchange"].ID(), Addrs: impostor.h.Addrs()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reg.Send(ctx, "exchange", []byte("secret")); !errors.Is(err, ErrPeerDown) {
		t.Fatalf("sent to an impostor: %v", err)
	}
}
