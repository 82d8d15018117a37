package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/internal/demo"
)

func init() { addCommand(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var dir string
	var verbose bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Three nodes on loopback: DKG, a signature from every pair, verified",
		Long: `Start the custodian, exchange and regulator nodes in this process with real libp2p on
127.0.0.1, run a 2-of-3 DKG, sign a message with each of the three pairs, verify every
signature with btcec and print the group key and a summary.

The nodes' identities and pre-params are kept, sealed with a local demo passphrase, under
the user's cache dir, so only the first run waits for pre-params (10-80 s each here).
The demo seals with a LOCAL PASSPHRASE, not an HSM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				cache, err := os.UserCacheDir()
				if err != nil {
					return userErr("no cache dir; give --dir: %v", err)
				}
				dir = filepath.Join(cache, "triad", "demo")
			}
			level := slog.LevelError
			if verbose {
				level = slog.LevelInfo
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			return demo.Run(ctx, cmd.OutOrStdout(), dir, log)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "state dir (default: <user cache dir>/triad/demo)")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "show the nodes' logs")
	return c
}
