package p2p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// maxPendingInbound bounds the inbound connections a host holds before
// their Noise handshake ends (see newResourceManager); pendingInbound
// lowers it to a quarter of the process's file descriptors, so that a
// flood cannot take the descriptors the store and the API need.
const maxPendingInbound = 1024

func pendingInbound() int {
	n := maxPendingInbound
	if fds := openFileLimit(); fds > 0 && fds/4 < n {
		n = max(fds/4, 16)
	}
	return n
}

// FrameProtocol is the libp2p protocol that carries Triad frames.
const FrameProtocol = protocol.ID("/triad/frame/1.0.0")

// Peer pins one other party: its libp2p identity and, optionally, where to
// dial it. A peer without addresses is reached once it dials in.
type Peer struct {
	Party string
	ID    peer.ID
	Addrs []ma.Multiaddr
}

// HostConfig configures the libp2p transport.
type HostConfig struct {
	Party    string
	Identity crypto.PrivKey
	Listen   []ma.Multiaddr
	Peers    []Peer
	// DialTimeout bounds one dial attempt; default 3s.
	DialTimeout time.Duration
	Logger      *slog.Logger
}

// Host is the libp2p Transport: TCP with Noise, a connection gater that
// admits only the pinned peers, and resource-manager limits.
type Host struct {
	cfg     HostConfig
	h       host.Host
	pinMu   sync.RWMutex // guards byParty, byID and pinned: Repin changes them (repin.go)
	byParty map[string]peer.ID
	byID    map[peer.ID]string
	pinned  map[string][]ma.Multiaddr // each party's configured addresses (gater.go)
	log     *slog.Logger

	mu      sync.Mutex
	handler func(string, []byte)
	refused int
	pending *pendingLimiter // unauthenticated inbound connections (pending.go)
	inbound atomic.Int64    // inbound connections offered to the gater
}

var _ Transport = (*Host)(nil)

// NewHost starts listening. Frames are dispatched once SetHandler is called.
func NewHost(cfg HostConfig) (*Host, error) {
	if cfg.Identity == nil {
		return nil, fmt.Errorf("node: host needs an identity key")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	self, err := peer.IDFromPrivateKey(cfg.Identity)
	if err != nil {
		return nil, fmt.Errorf("node: identity: %w", err)
	}
	t := &Host{cfg: cfg, byParty: map[string]peer.ID{}, byID: map[peer.ID]string{}, pinned: map[string][]ma.Multiaddr{}, log: cfg.Logger}
	for _, p := range cfg.Peers {
		if p.ID == self {
			return nil, fmt.Errorf("node: peer %s has this node's own identity", p.Party)
		}
		if _, dup := t.byID[p.ID]; dup {
			return nil, fmt.Errorf("node: peer identity %s pinned twice", p.ID)
		}
		t.byParty[p.Party] = p.ID
		t.byID[p.ID] = p.Party
		t.pinned[p.Party] = p.Addrs
	}
	rm, err := newResourceManager()
	if err != nil {
		return nil, err
	}
	t.pending = newPendingLimiter(rm, t)
	h, err := libp2p.New(
		libp2p.Identity(cfg.Identity),
		libp2p.ListenAddrs(cfg.Listen...),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ConnectionGater(gater{t}),
		libp2p.ResourceManager(t.pending),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
	)
	if err != nil {
		return nil, fmt.Errorf("node: starting libp2p host: %w", err)
	}
	t.h = h
	for _, p := range cfg.Peers {
		h.Peerstore().AddAddrs(p.ID, p.Addrs, peerstore.PermanentAddrTTL)
	}
	h.SetStreamHandler(FrameProtocol, t.handleStream)
	return t, nil
}

// newResourceManager caps what any peer, and all of them together, may
// hold open: three nodes need few connections and a bounded number of
// streams, so a flood is refused by the resource manager, not absorbed.
//
// Inbound connections waiting for their Noise handshake are transient and
// their peer is not known yet; pendingLimiter (pending.go) bounds them
// well below the transient scope's room, per IP address and in all, so
// that a flood cannot fill it and a pinned peer that reconnects during a
// flood still finds a place at once (../shared/SECURITY.md scenario 19).
func newResourceManager() (network.ResourceManager, error) {
	pending := rcmgr.LimitVal(pendingInbound())
	limits := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns: pending + 64, ConnsInbound: pending + 32, ConnsOutbound: 32,
			Streams: 1024, StreamsInbound: 512, StreamsOutbound: 512,
			Memory: 256 << 20, FD: pending + 128,
		},
		Transient: rcmgr.ResourceLimits{
			Conns: pending + 16, ConnsInbound: pending, ConnsOutbound: 8,
			Streams: 64, StreamsInbound: 32, StreamsOutbound: 32,
			Memory: 32 << 20, FD: pending + 16,
		},
		PeerDefault: rcmgr.ResourceLimits{
			Conns: 4, ConnsInbound: 2, ConnsOutbound: 2,
			Streams: 256, StreamsInbound: 128, StreamsOutbound: 128,
			Memory: 64 << 20,
		},
	}
	lim := rcmgr.NewFixedLimiter(limits.Build(rcmgr.DefaultLimits.AutoScale()))
	rm, err := rcmgr.NewResourceManager(lim)
	if err != nil {
		return nil, fmt.Errorf("node: resource manager: %w", err)
	}
	return rm, nil
}

// Self returns this node's party.
func (t *Host) Self() string { return t.cfg.Party }

// ID returns this node's libp2p peer ID.
func (t *Host) ID() peer.ID { return t.h.ID() }

// Addrs returns the addresses the host listens on, with its peer ID.
func (t *Host) Addrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range t.h.Addrs() {
		full, err := ma.NewMultiaddr(a.String() + "/p2p/" + t.h.ID().String())
		if err == nil {
			out = append(out, full)
		}
	}
	return out
}

// SignWithIdentity signs b with the host's libp2p identity key, which
// stays in the host; anyone holding its peer ID can check the signature.
func (t *Host) SignWithIdentity(b []byte) ([]byte, error) {
	if t.cfg.Identity == nil {
		return nil, fmt.Errorf("node: no identity key to sign with")
	}
	return t.cfg.Identity.Sign(b)
}

// Libp2p is the underlying libp2p host, for tests that close its
// connections or dial it directly.
func (t *Host) Libp2p() host.Host { return t.h }

// Inbound counts the inbound connections offered to the gater.
func (t *Host) Inbound() int64 { return t.inbound.Load() }

// Refused counts connections the gater refused.
func (t *Host) Refused() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refused
}

// SetHandler installs the receiver of inbound frames.
func (t *Host) SetHandler(h func(string, []byte)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.handler = h
}

// Connected reports whether a connection to party to is open.
func (t *Host) Connected(to string) bool {
	id, ok := t.peerOf(to)
	return ok && t.h.Network().Connectedness(id) == network.Connected
}

// WaitConnected returns once a connection to party is open (an inbound
// one is registered a moment after the dialer sees it), or when ctx ends.
func (t *Host) WaitConnected(ctx context.Context, party string) error {
	return t.waitConnectedness(ctx, party, true)
}

// WaitDisconnected returns once no connection to party is open (a peer
// that went away is seen so a moment after its host closed), or when ctx
// ends.
func (t *Host) WaitDisconnected(ctx context.Context, party string) error {
	return t.waitConnectedness(ctx, party, false)
}

func (t *Host) waitConnectedness(ctx context.Context, party string, want bool) error {
	id, ok := t.peerOf(party)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownPeer, party)
	}
	sub, err := t.h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return err
	}
	defer sub.Close()
	// Checked after subscribing: no change is missed.
	for (t.h.Network().Connectedness(id) == network.Connected) != want {
		select {
		case <-sub.Out():
		case <-ctx.Done():
			return fmt.Errorf("node: waiting for %s to be connected=%v: %w", party, want, ctx.Err())
		}
	}
	return nil
}

// Connect dials every pinned peer with a known address, in parallel, and
// returns when each attempt has ended.
func (t *Host) Connect(ctx context.Context) {
	var wg sync.WaitGroup
	for _, party := range t.pinnedParties() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.dial(ctx, party); err != nil {
				t.log.Info("peer not reachable yet", "peer", party, "err", err)
			}
		}()
	}
	wg.Wait()
}

func (t *Host) dial(ctx context.Context, party string) error {
	id, ok := t.peerOf(party)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownPeer, party)
	}
	if t.h.Network().Connectedness(id) == network.Connected {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	if err := t.h.Connect(ctx, peer.AddrInfo{ID: id}); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrPeerDown, party, err)
	}
	return nil
}

// Send writes one length-prefixed frame on a new stream to party to.
func (t *Host) Send(ctx context.Context, to string, frame []byte) error {
	if len(frame) > MaxFrameBytes {
		return fmt.Errorf("%w: %d bytes", ErrFrameSize, len(frame))
	}
	if err := t.dial(ctx, to); err != nil {
		return err
	}
	s, err := t.h.NewStream(network.WithNoDial(ctx, "connected"), t.mustPeerOf(to), FrameProtocol)
	if err != nil {
		return fmt.Errorf("%w: %s: opening stream: %v", ErrPeerDown, to, err)
	}
	if d, ok := ctx.Deadline(); ok {
		s.SetWriteDeadline(d)
	} else {
		s.SetWriteDeadline(time.Now().Add(30 * time.Second))
	}
	buf := binary.AppendUvarint(make([]byte, 0, len(frame)+binary.MaxVarintLen64), uint64(len(frame)))
	buf = append(buf, frame...)
	if _, err := s.Write(buf); err != nil {
		s.Reset()
		return fmt.Errorf("%w: %s: writing: %v", ErrPeerDown, to, err)
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("%w: %s: closing stream: %v", ErrPeerDown, to, err)
	}
	return nil
}

func (t *Host) handleStream(s network.Stream) {
	defer s.Close()
	party, ok := t.partyOf(s.Conn().RemotePeer())
	if !ok {
		s.Reset()
		return
	}
	s.SetReadDeadline(time.Now().Add(30 * time.Second))
	frame, err := readFrame(s)
	if err != nil {
		t.log.Warn("bad frame", "peer", party, "err", err)
		s.Reset()
		return
	}
	t.mu.Lock()
	h := t.handler
	t.mu.Unlock()
	if h != nil {
		h(party, frame)
	}
}

// readFrame reads one length-prefixed frame. The buffer grows with the
// bytes that have arrived, not with the declared length: a peer that
// declares MaxFrameBytes and sends ten costs about ten (../shared/SECURITY.md scenario 19).
func readFrame(s io.Reader) ([]byte, error) {
	r := bufio.NewReaderSize(io.LimitReader(s, MaxFrameBytes+binary.MaxVarintLen64), 512)
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrShortFrame, err)
	}
	if n > MaxFrameBytes {
		return nil, fmt.Errorf("%w: %d bytes declared", ErrFrameSize, n)
	}
	var buf bytes.Buffer
	got, err := buf.ReadFrom(io.LimitReader(r, int64(n)))
	if err != nil {
		return nil, fmt.Errorf("%w: after %d of %d bytes: %v", ErrShortFrame, got, n, err)
	}
	if uint64(got) != n {
		return nil, fmt.Errorf("%w: %d of %d bytes", ErrShortFrame, got, n)
	}
	return buf.Bytes(), nil
}

// Close shuts the host down.
func (t *Host) Close() error { return t.h.Close() }
