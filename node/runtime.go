package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/p2p"
	"github.com/triad-custody/triad/tss"
)

// Runtime is an assembled, running node: sealer, identity, libp2p host,
// key store, pre-params pool and the signing core.
type Runtime struct {
	Cfg    *Config
	Sealer hsm.Sealer
	Host   *p2p.Host
	Keys   *keystore.Store
	Pool   *tss.Pool
	Node   *Node
	Log    *slog.Logger
	// operators are StartOptions.Operators, for EnableRecovery.
	operators func(party, name string) (ed25519.PublicKey, bool)
	ctx       context.Context // until Close: the host's dialling
	cancel    context.CancelFunc
}

// Paths inside a node's data dir, beside its sealed files
// (keystore.DataDir).
const (
	peerIDFile    = "peer.id"
	incidentsFile = "incidents.json"
)

func (c *Config) dataPath(name string) string { return filepath.Join(c.Resolve(c.DataDir), name) }

// SealedDir is the node's data dir as its sealed files see it: where they
// are and the party they are bound to.
func (c *Config) SealedDir() keystore.DataDir {
	return keystore.DataDir{Path: c.Resolve(c.DataDir), Party: c.Party}
}

// KeysDir is where the node's sealed key shares live.
func (c *Config) KeysDir() string { return c.SealedDir().Keys() }

// Init creates the data dir and this node's libp2p identity, sealed, and
// writes its public peer ID to peer.id. It refuses to replace an identity.
func Init(ctx context.Context, c *Config, s hsm.Sealer) (peer.ID, error) {
	if err := os.MkdirAll(c.Resolve(c.DataDir), 0o700); err != nil {
		return "", fmt.Errorf("node: creating data dir: %w", err)
	}
	f := c.SealedDir().Identity(s)
	if _, err := os.Stat(f.Path); err == nil {
		return "", fmt.Errorf("%w: %s already has an identity (%s); refusing to replace it", ErrInitialized, c.Party, f.Path)
	}
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return "", err
	}
	b, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return "", err
	}
	defer clear(b)
	if err := f.Write(ctx, b); err != nil {
		return "", fmt.Errorf("node: sealing identity: %w", err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		return "", err
	}
	if err := hsm.WriteFileAtomic(c.dataPath(peerIDFile), []byte(id.String()+"\n"), 0o644); err != nil {
		return "", err
	}
	return id, nil
}

func loadIdentity(ctx context.Context, c *Config, s hsm.Sealer) (crypto.PrivKey, error) {
	f := c.SealedDir().Identity(s)
	if _, err := os.Stat(f.Path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("node: no identity in %s: run `triad init` first", c.Resolve(c.DataDir))
	}
	b, err := f.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("node: unsealing identity: %w", err)
	}
	defer clear(b)
	return crypto.UnmarshalPrivateKey(b)
}

// CheckUnseal unseals the node's identity and forgets it: a node whose
// HSM or passphrase cannot open its own sealed state learns so before it
// writes anything (its custody store above all).
func CheckUnseal(ctx context.Context, c *Config, s hsm.Sealer) error {
	_, err := loadIdentity(ctx, c, s)
	return err
}

// sealedPreParams keeps the pool sealed at rest.
type sealedPreParams struct{ f hsm.SealedFile }

func (s sealedPreParams) LoadPreParams(ctx context.Context) ([]byte, error) {
	if _, err := os.Stat(s.f.Path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return s.f.Read(ctx)
}

func (s sealedPreParams) SavePreParams(ctx context.Context, b []byte) error { return s.f.Write(ctx, b) }

// SeedPreParams stores pre-params in a node's sealed pool file, replacing
// what was there: for provisioning from a trusted generator and for tests.
func SeedPreParams(ctx context.Context, c *Config, s hsm.Sealer, blobJSONList []byte) error {
	return sealedPreParams{c.SealedDir().PreParams(s)}.SavePreParams(ctx, blobJSONList)
}

// StartOptions are the parts of a runtime a caller may supply.
type StartOptions struct {
	// Sealer overrides the one built from cfg.HSM (tests, the demo).
	Sealer hsm.Sealer
	// Keys overrides the key store opened in cfg's data dir with the
	// sealer (the daemon opens it first, for the settler that reads the
	// group keys).
	Keys *keystore.Store
	// KeygenRule and Operators are the node's configuration asked about a
	// keygen and about operator approvals (Options.KeygenRule,
	// reshare.Options.Operators): custody.Policy's KeygenRule and
	// OperatorPublicKey.
	KeygenRule func(keyID string) (role string, approvals, ok bool)
	Operators  func(party, name string) (ed25519.PublicKey, bool)
	Logger     *slog.Logger
	// PreParamsProgress hears the pool's progress.
	PreParamsProgress func(ready, target, running int)
}

// Start assembles a node from its config: sealer, identity, host
// (listening), key store, pre-params pool (filling) and the signing core,
// which handles no frame until Serve gives it its authorizer.
func Start(ctx context.Context, c *Config, o StartOptions) (*Runtime, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	s := o.Sealer
	if s == nil {
		var err error
		if s, err = hsm.New(ctx, c.HSM); err != nil {
			return nil, fmt.Errorf("node: HSM: %w", err)
		}
	}
	if s.Backend() == hsm.BackendLocal {
		log.Warn("key shards are sealed by a LOCAL PASSPHRASE, not an HSM: for demos and tests only")
	}
	priv, err := loadIdentity(ctx, c, s)
	if err != nil {
		return nil, err
	}
	peers, err := c.PinnedPeers()
	if err != nil {
		return nil, err
	}
	// A replacement pinned by a reshare overrides the config file.
	if peers, err = ApplyPins(c, peers); err != nil {
		return nil, err
	}
	var listen []ma.Multiaddr
	for _, l := range c.P2P.Listen {
		listen = append(listen, ma.StringCast(l))
	}
	host, err := p2p.NewHost(p2p.HostConfig{Party: c.Party, Identity: priv, Listen: listen, Peers: peers, DialTimeout: c.P2P.DialTimeout, Logger: log})
	if err != nil {
		return nil, err
	}
	keys := o.Keys
	if keys == nil {
		if keys, err = keystore.New(c.KeysDir(), c.Party, s); err != nil {
			host.Close()
			return nil, err
		}
	}
	for _, id := range keys.PendingKeys() {
		log.Error("a reshare of this key is undecided here: the old share is in force and the new one pending; compare the nodes' views with `triad reshare resolve`", "key", id)
	}
	pool, err := tss.NewPool(ctx, tss.PoolConfig{Target: c.PreParams.Target, Concurrency: c.PreParams.Concurrency,
		Store: sealedPreParams{c.SealedDir().PreParams(s)}, Progress: o.PreParamsProgress})
	if err != nil {
		host.Close()
		return nil, err
	}
	n, err := New(Options{Party: c.Party, Parties: c.Parties, Transport: host, Keys: keys, Pool: pool, Sealer: s, KeygenRule: o.KeygenRule,
		SignTimeout: c.Sessions.SignTimeout, KeygenTimeout: c.Sessions.KeygenTimeout, Logger: log,
		IncidentsFile: c.dataPath(incidentsFile)})
	if err != nil {
		host.Close()
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	rt := &Runtime{Cfg: c, Sealer: s, Host: host, Keys: keys, Pool: pool, Node: n, Log: log, operators: o.Operators, ctx: rctx, cancel: cancel}
	if c.PreParams.Generate {
		pool.Fill(rctx)
	}
	return rt, nil
}

// Serve starts the node serving with a, its decision to join a signing
// session (the custody service behind its holdings check, or
// service.RawSignPolicy), and dials its peers.
func (r *Runtime) Serve(a Authorizer) error {
	if err := r.Node.Serve(a); err != nil {
		return err
	}
	go r.Host.Connect(r.ctx)
	return nil
}

// Ready reports whether the node can sign: its HSM answers.
func (r *Runtime) Ready(ctx context.Context) error {
	if err := r.Sealer.Health(ctx); err != nil {
		return fmt.Errorf("HSM not ready: %w", err)
	}
	return nil
}

// Close stops the node, its pool and its host.
func (r *Runtime) Close() error {
	r.cancel()
	r.Node.Close()
	return r.Host.Close()
}
