package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/internal/hsmadmin"
	"github.com/triad-custody/triad/node"
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
			cfg, err := node.LoadConfig(configPath)
			if err != nil {
				return userError{Err: err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), hsmTimeout)
			defer cancel()
			return shardRewrap(ctx, cmd.OutOrStdout(), cfg, rotate)
		},
	}
	rewrap.Flags().StringVarP(&configPath, "config", "c", "", "node config file")
	rewrap.Flags().BoolVar(&rotate, "rotate", false, "rotate the Transit key first (adds a new version)")
	rewrap.MarkFlagRequired("config")
	shardCmd.AddCommand(rewrap)
	return shardCmd
}

// vaultRewrapper is what rewrap needs of the vault-transit sealer.
type vaultRewrapper interface {
	hsm.Rewrapper
	node.KeyVersions
	Rotate(ctx context.Context) error
}

// shardRewrap is `triad shard rewrap`: optionally rotate, then rewrap every
// sealed file of the node, one line per file.
func shardRewrap(ctx context.Context, out io.Writer, cfg *node.Config, rotate bool) error {
	if cfg.HSM.Backend != hsm.BackendVault {
		return userErr("shard rewrap: hsm backend %s has no key versions to rewrap to; rewrap (and key rotation) applies "+
			"only to vault-transit. Nothing was changed", cfg.HSM.Backend)
	}
	s, err := openHSM(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	v, ok := s.(vaultRewrapper)
	if !ok {
		return fmt.Errorf("shard rewrap: the %s sealer cannot rewrap", s.Backend())
	}
	key := cfg.HSM.Vault.TransitKey
	if rotate {
		if err := v.Rotate(ctx); err != nil {
			return fmt.Errorf("shard rewrap: rotating transit key %q: %w", key, err)
		}
	}
	info, err := v.KeyInfo(ctx)
	if err != nil {
		return fmt.Errorf("shard rewrap: %w", err)
	}
	if rotate {
		fmt.Fprintf(out, "rotated    transit key %q: latest version now %d\n", key, info.LatestVersion)
	}
	fmt.Fprintf(out, "key        transit key %q: latest version %d, min_decryption_version %d\n", key, info.LatestVersion, info.MinDecryptionVersion)
	results, err := node.RewrapSealed(ctx, cfg, v, func(r node.RewrapResult) {
		switch {
		case r.Err != nil:
			fmt.Fprintf(out, "FAILED     %-28s v%d: %v\n", r.Rel, r.From, r.Err)
		case r.Skipped:
			fmt.Fprintf(out, "current    %-28s v%d\n", r.Rel, r.To)
		default:
			fmt.Fprintf(out, "rewrapped  %-28s v%d -> v%d\n", r.Rel, r.From, r.To)
		}
	})
	if err != nil {
		failed := 0
		for _, r := range results {
			if r.Err != nil {
				failed++
			}
		}
		if failed == 0 { // listing or key info failed before any file
			return fmt.Errorf("shard rewrap: %w", err)
		}
		return fmt.Errorf("shard rewrap: %d of %d sealed file(s) not rewrapped (see above)", failed, len(results))
	}
	if len(results) == 0 {
		fmt.Fprintf(out, "no sealed files in %s\n", cfg.Resolve(cfg.DataDir))
		return nil
	}
	fmt.Fprintf(out, "all %d sealed file(s) are at version %d. Older ciphertext still decrypts until the minimum is raised;\n"+
		"take a fresh backup first (older backups stop opening), then:\n  vault write %s/keys/%s/config min_decryption_version=%d\n",
		len(results), info.LatestVersion, hsmadmin.TransitMount(cfg.HSM.Vault), key, info.LatestVersion)
	return nil
}
