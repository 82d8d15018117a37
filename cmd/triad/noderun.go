package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/api"
)

func init() { addCommand(newNodeCmd) }

func newNodeCmd() *cobra.Command {
	nodeCmd := &cobra.Command{Use: "node", Short: "Run a Triad node"}
	var configPath string
	run := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the node daemon: libp2p host, signing sessions and the HTTP API",
		Long: `Run one party's node until SIGINT or SIGTERM. It prints the addresses it listens on
("p2p <multiaddr>", "api <host:port>") and writes the API address to <data_dir>/api.addr.
With api.tls set the API is served over HTTPS (and, with api.tls.client_ca_file, only to
clients presenting a certificate that CA signed); the lines and the file stay host:port.

Example:
  TRIAD_PASSPHRASE=... triad node run --config configs/custodian.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := node.LoadConfig(configPath)
			if err != nil {
				return userError{Err: err}
			}
			log := newLogger(cfg.Log.Level)
			defer startCPUProfile(log)()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runNode(ctx, cmd, cfg, log)
		},
	}
	run.Flags().StringVarP(&configPath, "config", "c", "", "node config file")
	run.MarkFlagRequired("config")
	nodeCmd.AddCommand(run)
	return nodeCmd
}

func runNode(ctx context.Context, cmd *cobra.Command, cfg *node.Config, log *slog.Logger) error {
	if err := disableCoreDumps(); err != nil {
		log.Warn("could not disable core dumps", "err", err)
	}
	// TLS material is checked before anything starts.
	tlsCfg, err := api.ServerTLS(cfg.API.TLS, cfg.Resolve)
	if err != nil {
		return userError{Err: err}
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	s, err := openHSM(sctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	// Unseal before anything is written: a wrong passphrase or HSM key
	// leaves the data dir as it was.
	uctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = node.CheckUnseal(uctx, cfg, s)
	cancel()
	if err != nil {
		s.Close()
		return err
	}
	// The custody service is every node's own policy and each signer's
	// authorizer; the chain boundary (settle.Chains) builds and checks
	// Bitcoin transactions (the settler) and EVM ones (evm.chains).
	keys, recs, nonces := &settle.KeysLater{}, &settle.RecordsLater{}, &settle.NoncesLater{}
	settler, err := settle.ForNode(cfg, keys, recs, nil)
	if err != nil {
		s.Close()
		return userError{Err: err}
	}
	chains, err := settle.ChainsForNode(ctx, cfg, settler, keys, recs, nonces)
	if err != nil {
		s.Close()
		return userError{Err: err}
	}
	so := service.Options{Logger: log,
		Digester:  service.CanaryDigester(cfg.Policy, chains.Digester(service.DefaultDigester)),
		Finalizer: service.CanaryFinalizer(cfg.Policy, chains.Finalizer()),
		Tracker:   chains.Tracker(), Coins: chains, Batcher: settler}
	book := creditBook(cfg)
	if book != nil {
		so.Credit = book.Facts
	}
	svc, err := service.Open(cfg, so)
	if err != nil {
		s.Close()
		return err
	}
	recs.Bind(svc.Store())
	nonces.Bind(svc.Store())
	chains.Results = svc // before Attach: tracking starts with the node's ticks
	auth, attester, view := holdingsWiring(cfg, settler, chains, svc)
	rt, err := node.Start(ctx, cfg, node.StartOptions{Sealer: s, Logger: log, Authorizer: auth,
		PreParamsProgress: func(ready, target, running int) {
			log.Info("pre-params pool", "ready", ready, "target", target, "generating", running)
		}})
	if err != nil {
		svc.Close()
		s.Close()
		if errors.Is(err, node.ErrConfig) {
			return userError{Err: err}
		}
		return err
	}
	defer rt.Close()
	defer svc.Close() // deferred calls run last-in first-out: the service stops before the node
	keys.Bind(rt.Keys)
	rt.EnableRecovery(reshareAuditor(svc, log))
	if err := svc.Attach(rt); err != nil {
		return err
	}
	if attester != nil {
		runAttester(ctx, attester, rt, cfg.Policy.SnapshotEvery(), log)
	}
	opts := api.Options{Custody: svc, Holdings: attester, HoldingsView: view, Credit: book}
	if view != nil {
		rec := startReconciler(ctx, cfg, view, rt, svc, log)
		opts.Reconciler, opts.Collectors = rec, rec.Collectors()
	}
	return serveAPI(ctx, cmd.OutOrStdout(), cfg, rt, opts, tlsCfg, log)
}
