package servicetest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/memnet"
	"github.com/triad-custody/triad/node/nodetest"
	"github.com/triad-custody/triad/node/p2p"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// Epoch is where every node's clock starts.
var Epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Fixed test addresses and accounts.
const (
	Account            = "acct-1"
	ChildPath          = "m/0/1"
	OwnerAddress       = "bc1qowner0000account0one"
	LiquidationAddress = "bc1qliquidation0000pre0authorised"
)

// SeedKey derives a deterministic ed25519 test key. Never outside tests.
func SeedKey(name string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("triad-test/" + name))
	return ed25519.NewKeyFromSeed(s[:])
}

// OperatorNames are each party's operator.
var OperatorNames = map[custody.Party]string{custody.Custodian: "alice", custody.Exchange: "bob", custody.Regulator: "carol"}

// OperatorKey is party p's operator key.
func OperatorKey(p custody.Party) ed25519.PrivateKey {
	return SeedKey("operator/" + string(p) + "/" + OperatorNames[p])
}

// MarginKey is the margin engine's key; RogueKey one nobody should trust.
func MarginKey() ed25519.PrivateKey { return SeedKey("margin-engine") }

// RogueKey is a key outside every honest policy.
func RogueKey() ed25519.PrivateKey { return SeedKey("rogue") }

func pubHex(k ed25519.PrivateKey) string { return hex.EncodeToString(k.Public().(ed25519.PublicKey)) }

// BasePolicy is party p's test policy: the fixture key as the custody key
// holding acct-1 at m/0/1, BTC capped at 2 BTC, liquidations automatic at
// custodian and exchange.
func BasePolicy(p custody.Party) custody.Policy {
	pol := custody.DefaultPolicy(p)
	pol.LiquidationAddress = LiquidationAddress
	pol.MarginEngineKeys = []string{pubHex(MarginKey())}
	pol.Operators = map[custody.Party][]custody.OperatorKey{}
	for _, q := range custody.Parties {
		pol.Operators[q] = []custody.OperatorKey{{Name: OperatorNames[q], PublicKey: pubHex(OperatorKey(q))}}
	}
	pol.Keys = []custody.KeyConfig{{ID: fixtures.KeyID, Role: custody.RoleCustody}}
	pol.Accounts = []custody.Account{{ID: Account, KeyID: fixtures.KeyID, ChildPath: ChildPath, OwnerAddress: OwnerAddress}}
	pol.Assets = []custody.Asset{
		{Symbol: "BTC", Decimals: 8, MaxAmount: 200_000_000, CollateralFactorBps: 10000},
		{Symbol: "MMF", Decimals: 6, CollateralFactorBps: 9800},
		{Symbol: "USDC", Decimals: 6, CollateralFactorBps: 9500},
	}
	if p != custody.Regulator {
		pol.AutoApprove = []custody.Kind{custody.KindLiquidation}
	}
	return pol
}

// Options shape a cluster.
type Options struct {
	// Policy adjusts a party's BasePolicy.
	Policy func(p custody.Party, pol *custody.Policy)
	// SignTimeout per attempt (default 20s).
	SignTimeout time.Duration
	// Service adjusts a party's service options.
	Service func(p custody.Party, o *service.Options)
	// Node adjusts a party's node options (e.g. its protocol versions).
	Node func(p custody.Party, o *node.Options)
	// Authorizer wraps the authorizer a party's node serves with (next:
	// its service), e.g. a holdings check in front of it or a hostile
	// node's; nil: the service itself.
	Authorizer func(p custody.Party, next node.Authorizer) node.Authorizer
	// Network wraps the signing network a party's service uses (a test's
	// faulty signer); nil: the node itself.
	Network func(p custody.Party, n service.Network) service.Network
	// Start is where the clocks start (default Epoch).
	Start time.Time
	// Libp2p puts each node on its own libp2p host on 127.0.0.1:0 (TCP,
	// Noise, pinned peer IDs, the connection gater) instead of the
	// in-memory network; Net is then nil. A restarted node listens on a
	// new port and its running peers are told where.
	Libp2p bool
}

// Member is one node of the cluster.
type Member struct {
	Party   custody.Party
	Clock   *custody.FakeClock
	Policy  custody.Policy
	Sealer  *hsm.Memory
	Keys    *keystore.Store
	Pool    *tss.Pool
	Node    *node.Node
	Svc     *service.Service
	Runtime *node.Runtime
	// Host is the node's libp2p host (Options.Libp2p), else nil.
	Host  *p2p.Host
	path  string
	conn  p2p.Transport
	ident crypto.PrivKey
}

// Cluster is three members on one memnet.Network.
type Cluster struct {
	Net     *memnet.Network
	Members map[custody.Party]*Member
	o       Options
	t       testing.TB
}

// New starts three nodes; they are stopped when the test ends.
func New(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.SignTimeout == 0 {
		o.SignTimeout = 20 * time.Second
	}
	c := &Cluster{Members: map[custody.Party]*Member{}, o: o, t: t}
	if !o.Libp2p {
		c.Net = memnet.New()
	}
	for i, p := range custody.Parties {
		start := o.Start
		if start.IsZero() {
			start = Epoch
		}
		m := &Member{Party: p, Clock: custody.NewFakeClock(start), Policy: BasePolicy(p), Sealer: hsm.NewMemory(),
			path: filepath.Join(t.TempDir(), "custody.db")}
		if o.Policy != nil {
			o.Policy(p, &m.Policy)
		}
		m.Keys = nodetest.KeyStore(t, t.TempDir(), string(p), m.Sealer)
		m.Pool = emptyPool(t, i)
		if o.Libp2p {
			var err error
			if m.ident, _, err = crypto.GenerateEd25519Key(nil); err != nil {
				t.Fatal(err)
			}
		}
		c.Members[p] = m
	}
	for _, p := range custody.Parties {
		c.Start(p)
	}
	t.Cleanup(func() {
		for _, p := range custody.Parties {
			c.Stop(p)
		}
	})
	return c
}

// Svc is party p's custody service.
func (c *Cluster) Svc(p custody.Party) *service.Service { return c.Members[p].Svc }

// Start (re)starts party p's node and service on its existing store, key
// store and clock.
func (c *Cluster) Start(p custody.Party) {
	c.t.Helper()
	m := c.Members[p]
	if m.Svc != nil {
		c.t.Fatalf("%s is running", p)
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("TRIAD_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", string(p))
	}
	if c.o.Libp2p {
		m.Host = c.startHost(p, log)
		m.conn = m.Host
	} else {
		m.conn = c.Net.Join(string(p))
	}
	// As the daemon does: the node, then the service over it, then the
	// node serves with the service as its authorizer.
	no := node.Options{Party: string(p), Parties: fixtures.Parties, Transport: m.conn, Keys: m.Keys,
		Pool: m.Pool, Sealer: m.Sealer, SignTimeout: c.o.SignTimeout, KeygenTimeout: 5 * time.Minute, Logger: log}
	if c.o.Node != nil {
		c.o.Node(p, &no)
	}
	n, err := node.New(no)
	if err != nil {
		c.t.Fatal(err)
	}
	var sn service.Network = n
	if c.o.Network != nil {
		sn = c.o.Network(p, n)
	}
	so := service.Options{Policy: m.Policy, Path: m.path, Clock: m.Clock, Logger: log, SignTimeout: c.o.SignTimeout, TickEvery: -1,
		Network: sn, Keys: m.Keys}
	if c.o.Service != nil {
		c.o.Service(p, &so)
	}
	svc, err := service.New(so)
	if err != nil {
		n.Close()
		c.t.Fatal(err)
	}
	var auth node.Authorizer = svc
	if c.o.Authorizer != nil {
		auth = c.o.Authorizer(p, auth)
	}
	if err := n.Serve(auth); err != nil {
		c.t.Fatal(err)
	}
	svc.Start()
	m.Svc, m.Node = svc, n
	cfg := &node.Config{Party: string(p), Parties: fixtures.Parties,
		PreParams: node.PreParamsConfig{Target: 1, Concurrency: 1},
		Sessions:  node.SessionsConfig{SignTimeout: c.o.SignTimeout, KeygenTimeout: 5 * time.Minute}}
	m.Runtime = &node.Runtime{Cfg: cfg, Sealer: m.Sealer, Host: m.Host, Keys: m.Keys, Pool: m.Pool, Node: n, Log: log}
}

// startHost starts party p's libp2p host on 127.0.0.1:0, pinning the
// other members' identities (with the addresses of those running), tells
// the running ones where p now listens, and dials them.
func (c *Cluster) startHost(p custody.Party, log *slog.Logger) *p2p.Host {
	c.t.Helper()
	var peers []p2p.Peer
	for _, q := range custody.Parties {
		if q == p {
			continue
		}
		o := c.Members[q]
		id, err := peer.IDFromPrivateKey(o.ident)
		if err != nil {
			c.t.Fatal(err)
		}
		pp := p2p.Peer{Party: string(q), ID: id}
		if o.Host != nil {
			pp.Addrs = dialAddrs(o.Host)
		}
		peers = append(peers, pp)
	}
	h, err := p2p.NewHost(p2p.HostConfig{Party: string(p), Identity: c.Members[p].ident, Logger: log,
		Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}, Peers: peers})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, q := range custody.Parties {
		if o := c.Members[q]; q != p && o.Host != nil {
			if err := o.Host.Repin(string(p), h.ID(), dialAddrs(h)); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.Connect(ctx)
	// Both ends register the connection before the cluster is used: the
	// accepting side a moment after the dialer.
	for _, q := range custody.Parties {
		if o := c.Members[q]; q != p && o.Host != nil {
			if err := h.WaitConnected(ctx, string(q)); err != nil {
				c.t.Fatalf("%s: %v", p, err)
			}
			if err := o.Host.WaitConnected(ctx, string(p)); err != nil {
				c.t.Fatalf("%s: %v", q, err)
			}
		}
	}
	return h
}

// dialAddrs are h's listen addresses without the /p2p/<id> suffix.
func dialAddrs(h *p2p.Host) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range h.Addrs() {
		if tr, _ := peer.SplitAddr(a); tr != nil {
			out = append(out, tr)
		}
	}
	return out
}

// Stop kills party p's node and service, as a crash would: every state
// change is already on disk. Its peers see it disconnected until Start.
func (c *Cluster) Stop(p custody.Party) {
	m := c.Members[p]
	if m.Svc == nil {
		return
	}
	m.Svc.Close() // messages it already sent are delivered
	m.Node.Close()
	m.conn.Close()
	m.Svc, m.Node, m.Runtime, m.conn, m.Host = nil, nil, nil, nil, nil
	// On libp2p, the others see it gone before the test goes on: a peer
	// still counted as connected would be chosen to sign.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, o := range c.Members {
		if o.Host != nil {
			if err := o.Host.WaitDisconnected(ctx, string(p)); err != nil {
				c.t.Fatalf("servicetest: %s still sees %s connected: %v", o.Party, p, err)
			}
		}
	}
}

// Restart stops and starts party p.
func (c *Cluster) Restart(p custody.Party) {
	c.Stop(p)
	c.Start(p)
}

// Tick runs every running node's periodic work.
func (c *Cluster) Tick() {
	for _, p := range custody.Parties {
		if s := c.Members[p].Svc; s != nil {
			s.Tick(context.Background())
		}
	}
}

// Advance lets d pass on every node's clock, then ticks.
func (c *Cluster) Advance(d time.Duration) {
	for _, m := range c.Members {
		m.Clock.Advance(d)
	}
	c.Tick()
}

// Caller is a test API caller of party p's node.
func Caller(role string) service.Caller {
	return service.Caller{Name: role + "-1", Role: role}
}

// Release is a collateral release of amount satoshis to the owner.
func Release(idem string, amount uint64) custody.Request {
	return custody.Request{Kind: custody.KindRelease, IdempotencyKey: idem, Account: Account, KeyID: fixtures.KeyID,
		ChildPath: ChildPath, Asset: "BTC", Destination: OwnerAddress, Amount: amount, FeeRate: 5}
}

// Unfreeze is an emergency unfreeze to the owner.
func Unfreeze(idem string) custody.Request {
	r := Release(idem, 50_000_000)
	r.Kind, r.Reason = custody.KindUnfreeze, "custodian insolvency drill"
	return r
}

// Liquidation sells amount against evidence signed by key at time at.
func Liquidation(idem string, amount uint64, key ed25519.PrivateKey, at time.Time) custody.Request {
	r := Release(idem, amount)
	r.Kind, r.Destination = custody.KindLiquidation, LiquidationAddress
	ev := custody.SignMarginCall(custody.MarginCall{Account: Account, Asset: "BTC", Shortfall: amount * 2,
		Collateral: []custody.Holding{{Asset: "BTC", Value: 6_000_000}}, Exposure: 5_000_000, Price: 6_000_000,
		Time: at, Nonce: "mc-" + idem}, key)
	r.Evidence = &ev
	return r
}

// Approval is party p's operator's signed stance on a request, issued at
// p's clock.
func (c *Cluster) Approval(p custody.Party, v service.View, stance custody.Stance, nonce string) custody.Approval {
	now := c.Members[p].Clock.Now()
	return custody.SignApproval(custody.Approval{RequestID: v.ID, Kind: v.Request.Kind, Stance: stance, Party: p,
		Operator: OperatorNames[p], Nonce: fmt.Sprintf("nonce-%s-%s-%s", p, stance, nonce), IssuedAt: now,
		Expires: now.Add(30 * time.Minute)}, OperatorKey(p))
}

// WaitFor waits until cond holds for party p's view of request id, and
// returns that view. It re-checks on every event of p's node; one deadline.
func (c *Cluster) WaitFor(t testing.TB, p custody.Party, id string, what string, cond func(service.View) bool) service.View {
	t.Helper()
	svc := c.Members[p].Svc
	ch, cancel := svc.Subscribe(0)
	defer cancel()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		v, err := svc.Get(id)
		if err == nil && cond(v) {
			return v
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%s: request %.12s never reached %s (status %s, reason %q, decision %v, err %v)", p, id, what, v.Status, v.Reason, v.Decision, err)
		}
	}
}

// WaitStatus waits until party p's view of id has status st.
func (c *Cluster) WaitStatus(t testing.TB, p custody.Party, id string, st custody.Status) service.View {
	t.Helper()
	return c.WaitFor(t, p, id, string(st), func(v service.View) bool { return v.Status == st })
}

// emptyPool is a pre-params pool that never generates (signing needs none).
func emptyPool(t testing.TB, i int) *tss.Pool {
	t.Helper()
	pool, err := tss.NewPool(context.Background(), tss.PoolConfig{Target: 1, Concurrency: 1, Store: noPreParams{},
		Generate: func(context.Context) (*keygen.LocalPreParams, error) {
			return nil, fmt.Errorf("servicetest: node %d generates no pre-params", i)
		}})
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

type noPreParams struct{}

func (noPreParams) LoadPreParams(context.Context) ([]byte, error) { return nil, nil }
func (noPreParams) SavePreParams(context.Context, []byte) error   { return nil }

// SignKeyHex is the hex public key of k, as policies list it.
func SignKeyHex(k ed25519.PrivateKey) string { return pubHex(k) }
