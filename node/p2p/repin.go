package p2p

import (
	"fmt"
	"sort"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
)

// Pinned-peer lookups (host.go) go through these so that a reshare can
// re-pin a replaced party while the host runs.

func (t *Host) peerOf(party string) (peer.ID, bool) {
	t.pinMu.RLock()
	defer t.pinMu.RUnlock()
	id, ok := t.byParty[party]
	return id, ok
}

func (t *Host) mustPeerOf(party string) peer.ID {
	id, _ := t.peerOf(party)
	return id
}

func (t *Host) partyOf(id peer.ID) (string, bool) {
	t.pinMu.RLock()
	defer t.pinMu.RUnlock()
	p, ok := t.byID[id]
	return p, ok
}

func (t *Host) pinnedParties() []string {
	t.pinMu.RLock()
	defer t.pinMu.RUnlock()
	ps := make([]string, 0, len(t.byParty))
	for p := range t.byParty {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// Repin points party at a new peer ID (a replacement node) and closes any
// connection to the old one: from now on the gater admits only the new
// identity for that party. addrs, when given, are where to dial it.
func (t *Host) Repin(party string, id peer.ID, addrs []ma.Multiaddr) error {
	if id == t.h.ID() {
		return fmt.Errorf("node: cannot pin this node's own identity for %s", party)
	}
	t.pinMu.Lock()
	old, known := t.byParty[party]
	if !known {
		t.pinMu.Unlock()
		return fmt.Errorf("%w: %s", ErrUnknownPeer, party)
	}
	if old == id && len(addrs) == 0 {
		t.pinMu.Unlock()
		return nil // already pinned
	}
	if other, dup := t.byID[id]; dup && other != party {
		t.pinMu.Unlock()
		return fmt.Errorf("node: peer %s is already pinned for %s", id, other)
	}
	delete(t.byID, old)
	t.byParty[party] = id
	t.byID[id] = party
	if len(addrs) > 0 {
		t.pinned[party] = addrs
	}
	t.pinMu.Unlock()
	if old != id {
		// A replacement usually keeps the host and port: its addresses
		// carry over to the new identity.
		if prev := t.h.Peerstore().Addrs(old); len(prev) > 0 && len(addrs) == 0 {
			t.h.Peerstore().AddAddrs(id, prev, peerstore.PermanentAddrTTL)
		}
		t.h.Network().ClosePeer(old)
		t.h.Peerstore().ClearAddrs(old)
	}
	if len(addrs) > 0 {
		t.h.Peerstore().AddAddrs(id, addrs, peerstore.PermanentAddrTTL)
	}
	t.log.Warn("re-pinned peer", "peer", party, "old", old.String(), "new", id.String())
	return nil
}

// PeerConnectedness is the libp2p connectedness of party's pinned peer.
func (t *Host) PeerConnectedness(party string) network.Connectedness {
	id, ok := t.peerOf(party)
	if !ok {
		return network.NotConnected
	}
	return t.h.Network().Connectedness(id)
}
