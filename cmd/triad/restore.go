package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/recovery"
)

func init() { addCommand(newRestoreCmd) }

func newRestoreCmd() *cobra.Command {
	var config, in string
	c := &cobra.Command{
		Use:   "restore --config FILE --in BACKUP",
		Short: "Restore a node's sealed backup into an empty data dir",
		Long: `Open a backup made by 'triad backup' with this node's HSM and write its files into the
node's (empty) data dir. It refuses, writing nothing, a backup of another node, a backup
sealed under another HSM key, a backup made before the last reshare (every reshare
replaces the HSM key), an altered backup, or a data dir that is not empty.

Example:
  triad restore --config configs/custodian.yaml --in /media/offsite/custodian.triad-backup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadNodeConfig(config)
			if err != nil {
				return userError{Err: err}
			}
			b, err := os.ReadFile(in)
			if err != nil {
				return userErr("reading --in: %v", err)
			}
			ctx, cancel := withTimeout(hsmTimeout)
			defer cancel()
			s, err := openHSM(ctx, cfg)
			if err != nil {
				return err
			}
			defer s.Close()
			h, err := recovery.RestoreBackup(ctx, b, cfg.Resolve(cfg.DataDir), cfg.Party, s)
			for _, e := range []error{recovery.ErrWrongNode, recovery.ErrWrongKey, recovery.ErrNotEmpty, recovery.ErrBadBackup, recovery.ErrStaleBackup} {
				if errors.Is(err, e) {
					return userError{Err: err}
				}
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "restored backup %s of %s (made %s) into %s: %d file(s)\n",
				h.BackupID, h.Party, h.Created.Format("2006-01-02 15:04:05Z"), cfg.Resolve(cfg.DataDir), len(h.Files))
			return reportRestoredShares(ctx, w, cfg, s)
		},
	}
	c.Flags().StringVarP(&config, "config", "c", "", "node config file")
	c.Flags().StringVar(&in, "in", "", "backup file")
	c.MarkFlagRequired("config")
	c.MarkFlagRequired("in")
	return c
}

// reportRestoredShares unseals every restored share and prints its public
// view: a backup made before a reshare holds shares no longer in force,
// which the other nodes will refuse to sign with, so the operator compares
// the views with theirs before relying on this node.
func reportRestoredShares(ctx context.Context, w io.Writer, cfg *node.Config, s hsm.Sealer) error {
	ks, err := keystore.New(cfg.KeysDir(), cfg.Party, s)
	if err != nil {
		return err
	}
	checks, err := ks.CheckUnseal(ctx)
	if err != nil {
		return fmt.Errorf("the restored shares do not unseal: %w", err)
	}
	bad := 0
	for _, c := range checks {
		switch {
		case c.Error != "":
			bad++
			fmt.Fprintf(w, "  key %s: %s\n", c.KeyID, c.Error)
		case c.View != "":
			fmt.Fprintf(w, "  key %s: share %s unseals; public view %.16s…\n", c.KeyID, c.Party, c.View)
		}
		if c.PendingView != "" {
			fmt.Fprintf(w, "  key %s: a reshare was undecided when the backup was made (pending view %.16s…)\n", c.KeyID, c.PendingView)
		}
	}
	if len(checks) > 0 {
		fmt.Fprintln(w, "before relying on this node, start it and run `triad drill unseal` against all three: a backup older than the last reshare holds shares no longer in force, and partners decline to sign with them")
	}
	if bad > 0 {
		return fmt.Errorf("%d restored share(s) do not unseal", bad)
	}
	return nil
}
