package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/internal/hsmadmin"
)

func init() { addCommand(newShardCmd) }

func newShardCmd() *cobra.Command {
	shardCmd := &cobra.Command{
		Use:   "shard",
		Short: "Maintain this node's sealed shards",
	}
	var configPath string
	var rotate bool
	rewrap := &cobra.Command{
		Use:   "rewrap --config FILE [--rotate]",
		Short: "Re-encrypt every sealed file of this node under the newest Transit key version",
		Long: `Rewrap this node's sealed files (identity.sealed, preparams.sealed, keys/*.share and
any uncommitted keys/*.share.pending) under the newest version of its Transit key. Vault
decrypts and re-encrypts inside itself (Transit rewrap); Triad then checks that each new
blob opens under the file's AAD, and replaces the file atomically. Files already at the
newest version are left alone.

Key rotation, step by step:
  1. triad shard rewrap --config FILE --rotate     (or: vault write -f transit/keys/KEY/rotate,
                                                     then triad shard rewrap --config FILE)
  2. take a fresh backup (triad backup): older backups hold their data key sealed under
     the old version and stop opening at step 3
  3. vault write transit/keys/KEY/config min_decryption_version=N   (N as printed)
From then on ciphertext under an older version is refused by Vault, and Triad says so.

Only the vault-transit backend has key versions; for pkcs11 and local there is nothing to
rewrap. Best run with the node stopped; a file the node replaces meanwhile is left alone
and reported, and running rewrap again picks it up.

Example:
  triad shard rewrap --config configs/exchange.yaml --rotate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadNodeConfig(configPath)
			if err != nil {
				return userError{Err: err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), hsmTimeout)
			defer cancel()
			return hsmErr(hsmadmin.Rewrap(ctx, cmd.OutOrStdout(), cfg, rotate))
		},
	}
	rewrap.Flags().StringVarP(&configPath, "config", "c", "", "node config file")
	rewrap.Flags().BoolVar(&rotate, "rotate", false, "rotate the Transit key first (adds a new version)")
	rewrap.MarkFlagRequired("config")
	shardCmd.AddCommand(rewrap)
	return shardCmd
}
