package node

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/triad-custody/triad/node/p2p"
	"github.com/triad-custody/triad/node/p2p/p2ptest"
)

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
	targets := append(p2ptest.TCPAddrs(t, hosts["custodian"]), p2ptest.TCPAddrs(t, hosts["exchange"])...)
	started, stopFlood := p2ptest.Flood(t, targets, floodConns)
	defer stopFlood()
	stopDialer := p2ptest.HostileDialer(t, map[string]*p2p.Host{"custodian": hosts["custodian"], "exchange": hosts["exchange"]})
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
	hosts["custodian"].Libp2p().Network().ClosePeer(hosts["exchange"].ID())
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

// ../shared/SECURITY.md scenario 19: a flood of 1100 connections from loopback, the pinned
// peers' own address, to the regulator, each stalled in its Noise
// negotiation. The regulator used to hold every one of them until
// libp2p's 15 s accept timeout (up to its transient scope's 1024, after
// which a pinned peer's new connection was refused). Now at most
// the pending bounds (node/p2p/pending.go) of them wait for their
// handshake, the rest are closed before Noise, and the exchange, dialing from its pinned address,
// connects within a small bound and signs with the regulator.
func TestPinnedPeerConnectsDuringHandshakeFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("opens more than a thousand connections")
	}
	const floodConns = 1100
	hosts, nodes := libp2pCluster(t, clusterOpts{withShares: true, signTimeout: 20 * time.Second})
	hosts["custodian"].Close() // no other pair to fail over to
	reg, ex := hosts["regulator"], hosts["exchange"]
	ex.Libp2p().Network().ClosePeer(reg.ID())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ex.WaitDisconnected(ctx, "regulator"); err != nil {
		t.Fatal(err)
	}
	started, held, stopFlood := p2ptest.FloodHeld(t, p2ptest.TCPAddrs(t, reg), floodConns)
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
	for reg.Inbound() < floodConns {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the regulator took in %d connections of the flood", reg.Inbound())
		}
	}
	// At most the pending bounds wait for their handshake (without the bound:
	// all of them). What the flood sees open also counts those still in
	// the kernel's accept queue and refused ones whose closing it has not
	// read yet: a few hundred on a loaded machine.
	if h := held(); h > 2*p2p.MaxPendingAll {
		t.Fatalf("the regulator holds %d unauthenticated connections from one address", h)
	}
	// The exchange dials the regulator (from its listening port, pinned
	// at the regulator): one deadline for the connection, small against
	// the 15 s a flooded host used to keep it waiting.
	cctx, ccancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer ccancel()
	if err := ex.Libp2p().Connect(cctx, peer.AddrInfo{ID: reg.ID(), Addrs: reg.Libp2p().Addrs()}); err != nil {
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
