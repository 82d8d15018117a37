package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/daemon"
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
			cfg, err := daemon.LoadConfig(configPath)
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

func runNode(ctx context.Context, cmd *cobra.Command, cfg *daemon.Config, log *slog.Logger) error {
	if err := disableCoreDumps(); err != nil {
		log.Warn("could not disable core dumps", "err", err)
	}
	err := daemon.Run(ctx, cfg, daemon.Options{Out: cmd.OutOrStdout(), Logger: log})
	if ce := (daemon.CallerError{}); errors.As(err, &ce) {
		return userError{Err: ce.Err}
	}
	return err
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
