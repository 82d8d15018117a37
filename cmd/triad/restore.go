package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/recovery"
)

func init() {
	var config, in string
	c := &cobra.Command{
		Use:   "restore --config FILE --in BACKUP",
		Short: "Restore a node's sealed backup into an empty data dir",
		Long: `Open a backup made by 'triad backup' with this node's HSM and write its files into the
node's (empty) data dir. It refuses, writing nothing, a backup of another node, a backup
sealed under another HSM key, an altered backup, or a data dir that is not empty.

Example:
  triad restore --config configs/custodian.yaml --in /media/offsite/custodian.triad-backup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := node.LoadConfig(config)
			if err != nil {
				return userError{err}
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
			for _, e := range []error{recovery.ErrWrongNode, recovery.ErrWrongKey, recovery.ErrNotEmpty, recovery.ErrBadBackup} {
				if errors.Is(err, e) {
					return userError{err}
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored backup %s of %s (made %s) into %s: %d file(s)\n",
				h.BackupID, h.Party, h.Created.Format("2006-01-02 15:04:05Z"), cfg.Resolve(cfg.DataDir), len(h.Files))
			return nil
		},
	}
	c.Flags().StringVarP(&config, "config", "c", "", "node config file")
	c.Flags().StringVar(&in, "in", "", "backup file")
	c.MarkFlagRequired("config")
	c.MarkFlagRequired("in")
	root.AddCommand(c)
}
