package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/recovery"
)

func init() { addCommand(newBackupCmd) }

func newBackupCmd() *cobra.Command {
	var config, out string
	c := &cobra.Command{
		Use:   "backup --config FILE --out FILE",
		Short: "Export this node's sealed shards, identity and state as one sealed backup",
		Long: `Bundle every file of the node's data dir (sealed shards, sealed identity, sealed
pre-params, state) into one backup file. The backup stays sealed: the bundle is encrypted
under a fresh data key that this node's HSM seals, bound to this node's party. Restoring
needs the same HSM key and the same party ('triad restore'). Nothing secret is printed.

Stop the node first, so that its state database is not mid-write.

Example:
  triad backup --config configs/custodian.yaml --out /media/offsite/custodian.triad-backup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadNodeConfig(config)
			if err != nil {
				return userError{Err: err}
			}
			if _, err := os.Stat(out); err == nil {
				return userErr("%s exists; refusing to overwrite a backup", out)
			}
			ctx, cancel := withTimeout(hsmTimeout)
			defer cancel()
			s, err := openHSM(ctx, cfg)
			if err != nil {
				return err
			}
			defer s.Close()
			b, h, err := recovery.CreateBackup(ctx, cfg.Resolve(cfg.DataDir), cfg.Party, s, time.Now())
			if err != nil {
				return err
			}
			if err := hsm.WriteFileAtomic(out, b, 0o600); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "backup %s of %s written to %s (%d bytes, sealed by %s)\n", h.BackupID, h.Party, out, len(b), h.Backend)
			for _, f := range h.Files {
				fmt.Fprintf(w, "  %s\n", f)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&config, "config", "c", "", "node config file")
	c.Flags().StringVarP(&out, "out", "o", "", "backup file to write")
	c.MarkFlagRequired("config")
	c.MarkFlagRequired("out")
	return c
}
