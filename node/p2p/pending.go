package p2p

import (
	"errors"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Inbound connections before their Noise handshake ends are unauthenticated:
// a flood of them from one address (loopback, a NAT, a pinned peer's host)
// cannot be told from a pinned peer by the gater. Unbounded, a flood of a
// thousand idle ones filled the resource manager's transient scope and a
// pinned peer's new connection waited for libp2p's 15 s accept timeout to
// free a place (../shared/SECURITY.md scenario 19). So pendingLimiter, around the resource
// manager, bounds them per IP address and in all, refusing the excess at
// once (before Noise, at no cost), and admits outside those bounds a
// connection from a pinned peer's own address and port: libp2p dials from
// its listening port (TCP reuseport), which another process of another
// user cannot bind. Such a connection still has to complete Noise as the
// pinned peer (InterceptSecured).
const (
	maxPendingPerIP = 64
	// MaxPendingAll bounds the unauthenticated inbound connections a host
	// holds in all (lower when the process has few file descriptors).
	MaxPendingAll = 256
)

var errPendingFull = errors.New("node: too many unauthenticated inbound connections")

type pendingLimiter struct {
	network.ResourceManager
	t            *Host
	perIP, total int

	mu   sync.Mutex
	byIP map[string]int
	n    int
}

func newPendingLimiter(rm network.ResourceManager, t *Host) *pendingLimiter {
	return &pendingLimiter{ResourceManager: rm, t: t, perIP: maxPendingPerIP, total: min(MaxPendingAll, pendingInbound()/2),
		byIP: map[string]int{}}
}

func (l *pendingLimiter) OpenConnection(dir network.Direction, usefd bool, endpoint ma.Multiaddr) (network.ConnManagementScope, error) {
	if dir != network.DirInbound || l.t.fromPinnedAddr(endpoint) {
		return l.ResourceManager.OpenConnection(dir, usefd, endpoint)
	}
	ip := ""
	if a := ipOf(endpoint); a != nil {
		ip = a.String()
	}
	l.mu.Lock()
	if l.byIP[ip] >= l.perIP || l.n >= l.total {
		l.mu.Unlock()
		l.t.countRefused("refused an unauthenticated connection: too many pending", "addr", endpoint.String())
		return nil, errPendingFull
	}
	l.byIP[ip]++
	l.n++
	l.mu.Unlock()
	s, err := l.ResourceManager.OpenConnection(dir, usefd, endpoint)
	if err != nil {
		l.release(ip)
		return nil, err
	}
	p := &pendingScope{ConnManagementScope: s}
	p.release = func() { p.once.Do(func() { l.release(ip) }) }
	return p, nil
}

func (l *pendingLimiter) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	l.n--
}

// pending is the number of unauthenticated inbound connections held.
func (l *pendingLimiter) pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// pendingScope leaves the count once its connection is authenticated
// (SetPeer, after Noise) or closed.
type pendingScope struct {
	network.ConnManagementScope
	once    sync.Once
	release func()
}

func (s *pendingScope) SetPeer(p peer.ID) error {
	s.release()
	return s.ConnManagementScope.SetPeer(p)
}

func (s *pendingScope) Done() {
	s.release()
	s.ConnManagementScope.Done()
}

// fromPinnedAddr reports whether remote is exactly (IP and port) one of a
// pinned peer's addresses.
func (t *Host) fromPinnedAddr(remote ma.Multiaddr) bool {
	from, port := ipOf(remote), portOf(remote)
	if from == nil || port == "" {
		return false
	}
	t.pinMu.RLock()
	defer t.pinMu.RUnlock()
	for _, addrs := range t.pinned {
		for _, a := range addrs {
			if ip := ipOf(a); ip != nil && ip.Equal(from) && portOf(a) == port {
				return true
			}
		}
	}
	return false
}

func portOf(a ma.Multiaddr) string {
	if p, err := a.ValueForProtocol(ma.P_TCP); err == nil {
		return p
	}
	if p, err := a.ValueForProtocol(ma.P_UDP); err == nil {
		return p
	}
	return ""
}
