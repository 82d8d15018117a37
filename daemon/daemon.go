package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/custody/store"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
)

// AddrFile is where Run writes the API's address in the data dir.
const AddrFile = "api.addr"

// CallerError is a failure the operator fixes in the config or the files
// and endpoints it names (TLS material, API tokens, chain nodes): `triad
// node run` exits 1 on it, as on a config that does not load.
type CallerError struct{ Err error }

func (e CallerError) Error() string { return e.Err.Error() }
func (e CallerError) Unwrap() error { return e.Err }

// Options are what Run takes besides the config.
type Options struct {
	// Out hears the node's addresses once it serves ("party", "peer",
	// "p2p <multiaddr>" lines and "api <host:port>").
	Out io.Writer
	// Logger is the node's log; slog.Default() when nil.
	Logger *slog.Logger
	// OpenHSM opens the config's sealer; hsm.New when nil.
	OpenHSM func(ctx context.Context, c hsm.Config) (hsm.Sealer, error)
}

// Run starts one party's node from cfg and serves its API until ctx ends.
// Everything is made in the order it is needed, each with what it needs,
// so nothing is bound late: the HSM, the identity check (a wrong
// passphrase or HSM key leaves the data dir as it was), the key store and
// the custody store, the chain boundary over both (settle.Chains: the
// Bitcoin settler and evm.chains), the MPC node (not serving yet), the
// custody service over the node with the chains' digests, finalizer and
// tracker, the holdings authorizer in front of it and resharing; then the
// node serves with that authorizer, the service talks to its peers, and
// the holdings jobs and the API start.
func Run(ctx context.Context, cfg *Config, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	// TLS material is checked before anything starts.
	tlsCfg, err := api.ServerTLS(cfg.API.TLS, cfg.Resolve)
	if err != nil {
		return CallerError{Err: err}
	}
	s, err := openSealer(ctx, cfg, o)
	if err != nil {
		return err
	}
	defer s.Close()
	keys, err := keystore.New(cfg.KeysDir(), cfg.Party, s)
	if err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(cfg.Resolve(cfg.DataDir), service.StoreFile), cfg.Policy.Party)
	if err != nil {
		return err
	}
	defer st.Close() // after the service and the node (deferred calls run last-in first-out)
	chains, err := chainsForNode(ctx, cfg, keys, st)
	if err != nil {
		return err
	}
	rt, err := node.Start(ctx, &cfg.Config, node.StartOptions{Sealer: s, Keys: keys, Logger: log,
		KeygenRule: cfg.Policy.KeygenRule, Operators: cfg.Policy.OperatorPublicKey,
		PreParamsProgress: func(ready, target, running int) {
			log.Info("pre-params pool", "ready", ready, "target", target, "generating", running)
		}})
	if err != nil {
		if errors.Is(err, node.ErrConfig) {
			return CallerError{Err: err}
		}
		return err
	}
	defer rt.Close()
	book := creditBook(cfg)
	svc, err := custodyService(cfg, rt, st, chains, book, log)
	if err != nil {
		return err
	}
	defer svc.Close() // deferred calls run last-in first-out: the service stops before the node
	auth, attester, view := holdingsWiring(cfg, rt, chains, svc)
	rt.EnableRecovery(reshareAuditor(svc, log))
	if err := rt.Serve(auth); err != nil {
		return err
	}
	svc.Start()
	if attester != nil {
		runAttester(ctx, attester, cfg.Policy.SnapshotEvery(), log)
	}
	opts := api.Options{Custody: svc, Holdings: attester, HoldingsView: view, Credit: book,
		Policy: cfg.Policy, BitcoinNetwork: cfg.Bitcoin.Network, Config: cfg.API}
	if view != nil {
		rec := startReconciler(ctx, cfg, view, rt, svc, log)
		opts.Reconciler, opts.Collectors = rec, rec.Collectors()
	}
	return serveAPI(ctx, o.Out, cfg, rt, opts, tlsCfg, log)
}

// openSealer opens the HSM and unseals the node's identity before
// anything is written. A configuration or secret-source mistake is the
// caller's (hsm.ErrConfig).
func openSealer(ctx context.Context, cfg *Config, o Options) (hsm.Sealer, error) {
	open := o.OpenHSM
	if open == nil {
		open = hsm.New
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	s, err := open(sctx, cfg.HSM)
	cancel()
	if err != nil {
		err = fmt.Errorf("opening the HSM: %w", err)
		if errors.Is(err, hsm.ErrConfig) {
			return nil, CallerError{Err: err}
		}
		return nil, err
	}
	uctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = node.CheckUnseal(uctx, &cfg.Config, s)
	cancel()
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// chainsForNode makes the chain boundary over the open key and custody
// stores (settle.Chains: the Bitcoin settler and evm.chains). The chains
// read what the service signed from the custody store they share.
func chainsForNode(ctx context.Context, cfg *Config, keys *keystore.Store, st *store.Store) (*settle.Chains, error) {
	settler, err := settle.ForNode(cfg.Bitcoin, cfg.Policy, keys, st, nil)
	if err != nil {
		return nil, CallerError{Err: err}
	}
	chains, err := settle.ChainsForNode(ctx, cfg.EVM, cfg.Policy, settler, keys, st)
	if err != nil {
		return nil, CallerError{Err: err}
	}
	return chains, nil
}

// custodyService makes the custody service over the node rt and the
// chain boundary: every node's own policy and each signer's authorizer.
func custodyService(cfg *Config, rt *node.Runtime, st *store.Store, chains *settle.Chains, book *holdings.CreditBook, log *slog.Logger) (*service.Service, error) {
	so := service.Options{Policy: cfg.Policy, Store: st, Logger: log, Network: rt.Node, Keys: rt.Keys,
		Digester:  service.CanaryDigester(cfg.Policy, chains.Digester(service.DefaultDigester)),
		Finalizer: service.CanaryFinalizer(cfg.Policy, chains.Finalizer()),
		Tracker:   chains.Tracker(), Coins: chains, Batcher: chains.BTC}
	if book != nil {
		so.Credit = book.Facts
	}
	return service.Open(&cfg.Config, so)
}
