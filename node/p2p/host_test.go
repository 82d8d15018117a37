package p2p_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/triad-custody/triad/node/p2p"
	"github.com/triad-custody/triad/node/p2p/p2ptest"
)

func TestHostConformance(t *testing.T) {
	hosts := p2ptest.NewHosts(t, "custodian", "exchange", "regulator")
	ts := map[string]p2p.Transport{}
	for p, h := range hosts {
		ts[p] = h
	}
	p2ptest.Conformance(t, ts, func(p string) { hosts[p].Close() })
}

// ../shared/SECURITY.md scenario 19: an unknown peer is refused by the connection gater.
func TestUnknownPeerRefused(t *testing.T) {
	hosts := p2ptest.NewHosts(t, "custodian", "exchange")
	k, _, _ := crypto.GenerateEd25519Key(nil)
	// Mallory pins the custodian, but the custodian does not pin Mallory.
	mallory, err := p2p.NewHost(p2p.HostConfig{Party: "mallory", Identity: k, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Peers: []p2p.Peer{{Party: "custodian", ID: hosts["custodian"].ID(), Addrs: hosts["custodian"].Libp2p().Addrs()}}})
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
	if hosts["custodian"].Libp2p().Network().Connectedness(mallory.ID()) == network.Connected {
		t.Fatal("custodian kept a connection to an unknown peer")
	}
}

// ../shared/SECURITY.md scenario 20: a pinned peer's address answered by a different key is
// refused: Noise proves the remote identity, and it is not the pinned one.
func TestPinnedAddressWithOtherKeyRefused(t *testing.T) {
	hosts := p2ptest.NewHosts(t, "custodian", "exchange")
	impostorKey, _, _ := crypto.GenerateEd25519Key(nil)
	impostor, err := p2p.NewHost(p2p.HostConfig{Party: "exchange", Identity: impostorKey, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Peers: []p2p.Peer{{Party: "custodian", ID: hosts["custodian"].ID()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer impostor.Close()
	// The regulator pins the real exchange's ID but is told the impostor's
	// address.
	regKey, _, _ := crypto.GenerateEd25519Key(nil)
	reg, err := p2p.NewHost(p2p.HostConfig{Party: "regulator", Identity: regKey, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Peers: []p2p.Peer{{Party: "exchange", ID: hosts["exchange"].ID(), Addrs: impostor.Libp2p().Addrs()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reg.Send(ctx, "exchange", []byte("secret")); !errors.Is(err, p2p.ErrPeerDown) {
		t.Fatalf("sent to an impostor: %v", err)
	}
}

// A drill report signed with the host's identity key verifies under the
// public key its peer ID carries, and under no other content.
func TestSignWithIdentityVerifiesUnderPeerID(t *testing.T) {
	h := p2ptest.NewHosts(t, "custodian")["custodian"]
	sig, err := h.SignWithIdentity([]byte("drill report"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := h.ID().ExtractPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := pub.Verify([]byte("drill report"), sig); err != nil || !ok {
		t.Fatalf("signature does not verify under the peer ID's key: %v, %v", ok, err)
	}
	if ok, _ := pub.Verify([]byte("another report"), sig); ok {
		t.Fatal("signature verifies for other content")
	}
}
