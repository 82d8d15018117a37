package p2p

import (
	"net"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// gater admits only pinned peers, at the earliest point libp2p allows
// (../shared/SECURITY.md scenario 19):
//   - InterceptAccept, before Noise: an inbound connection from an IP
//     address that no pinned peer has is closed before a byte is read,
//     when every pinned peer has an IP address in the configuration (a
//     peer without one, or with a DNS name, may dial in from anywhere);
//   - InterceptPeerDial and InterceptAddrDial: only pinned peers are
//     dialed, and only at their pinned addresses when they have IP ones
//     (not at addresses a peer advertised for itself);
//   - InterceptSecured, after Noise: the authenticated peer ID must be
//     pinned, in both directions.
//
// Connections from a pinned peer's address that are not that peer (a
// shared address: loopback, a NAT) are refused at InterceptSecured;
// pendingLimiter (pending.go) bounds how many may wait for it.
type gater struct{ t *Host }

func (g gater) InterceptPeerDial(p peer.ID) bool { return g.known(p) }

func (g gater) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	if !g.known(p) {
		return false
	}
	if !g.t.dialAllowed(p, a) {
		g.t.countRefused("refused a dial to an address the peer is not pinned at", "peer", p.String(), "addr", a.String())
		return false
	}
	return true
}

func (g gater) InterceptAccept(c network.ConnMultiaddrs) bool {
	g.t.inbound.Add(1)
	if !g.t.acceptAllowed(c.RemoteMultiaddr()) {
		g.t.countRefused("refused a connection from an address no pinned peer has", "addr", c.RemoteMultiaddr().String())
		return false
	}
	return true
}

func (g gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.known(p)
}

func (g gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

func (g gater) known(p peer.ID) bool {
	_, ok := g.t.partyOf(p)
	if !ok {
		g.t.countRefused("refused unknown peer", "peer", p.String())
	}
	return ok
}

// countRefused counts a refusal and logs the first one and then every
// thousandth, so that a flood does not become a flood of log lines.
func (t *Host) countRefused(msg string, args ...any) {
	t.mu.Lock()
	t.refused++
	n := t.refused
	t.mu.Unlock()
	if n == 1 || n%1000 == 0 {
		t.log.Warn(msg, append(args, "refused_total", n)...)
	}
}

// ipOf is the IP address of a multiaddr, or nil for one without an IP
// (a DNS name, a relay).
func ipOf(a ma.Multiaddr) net.IP {
	if a == nil {
		return nil
	}
	na, err := manet.ToNetAddr(a)
	if err != nil {
		return nil
	}
	switch v := na.(type) {
	case *net.TCPAddr:
		return v.IP
	case *net.UDPAddr:
		return v.IP
	case *net.IPAddr:
		return v.IP
	}
	return nil
}

// pinnedIPs are the IP addresses of every pinned peer; all is false when
// some peer has no IP address pinned, so that it may come from anywhere.
func (t *Host) pinnedIPs() (ips []net.IP, all bool) {
	t.pinMu.RLock()
	defer t.pinMu.RUnlock()
	for party := range t.byParty {
		addrs := t.pinned[party]
		if len(addrs) == 0 {
			return nil, false
		}
		for _, a := range addrs {
			ip := ipOf(a)
			if ip == nil {
				return nil, false
			}
			ips = append(ips, ip)
		}
	}
	return ips, true
}

// acceptAllowed reports whether an inbound connection from remote may go
// on to its Noise handshake.
func (t *Host) acceptAllowed(remote ma.Multiaddr) bool {
	ips, all := t.pinnedIPs()
	if !all {
		return true
	}
	from := ipOf(remote)
	for _, ip := range ips {
		if ip.Equal(from) {
			return true
		}
	}
	return false
}

// dialAllowed reports whether peer p may be dialed at a: at one of its
// pinned addresses, when they are all IP ones.
func (t *Host) dialAllowed(p peer.ID, a ma.Multiaddr) bool {
	party, ok := t.partyOf(p)
	if !ok {
		return false
	}
	t.pinMu.RLock()
	addrs := t.pinned[party]
	t.pinMu.RUnlock()
	if len(addrs) == 0 {
		return true
	}
	a, _ = ma.SplitFunc(a, func(c ma.Component) bool { return c.Protocol().Code == ma.P_P2P })
	for _, pa := range addrs {
		if ipOf(pa) == nil {
			return true
		}
		pa, _ = ma.SplitFunc(pa, func(c ma.Component) bool { return c.Protocol().Code == ma.P_P2P })
		if pa.Equal(a) {
			return true
		}
	}
	return false
}
