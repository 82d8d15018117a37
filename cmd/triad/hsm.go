package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/internal/hsmadmin"
	"github.com/triad-custody/triad/node"
)

// hsmTimeout bounds one HSM command (login, key creation, a few calls).
const hsmTimeout = hsmadmin.Timeout

func init() { addCommand(newHSMCmd) }

func newHSMCmd() *cobra.Command {
	hsmCmd := &cobra.Command{
		Use:   "hsm",
		Short: "Set up and inspect the HSM that seals this node's shards",
	}

	var initConfig string
	initCmd := &cobra.Command{
		Use:   "init --config FILE",
		Short: "Create this node's sealing key in the HSM if it is absent",
		Long: `Make sure the key that seals this node's shards, pre-params and identity exists.

  pkcs11         generates the AES-256 key (hsm.pkcs11.key_label) inside the token if no key
                 has that label: a token object, sensitive, never extractable, encrypt/decrypt only.
  vault-transit  creates the Transit key (hsm.vault.transit_key) if absent, as a derived,
                 non-exportable aes256-gcm96 key, and checks an existing one.
  local          nothing to create: the key is derived from the passphrase.

It is idempotent: run it again and it reports that the key is there. Run it before
` + "`triad init`" + ` on a node whose backend is pkcs11.

Example:
  TRIAD_HSM_PIN=... triad hsm init --config configs/custodian.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadNodeConfig(initConfig)
			if err != nil {
				return userError{Err: err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), hsmTimeout)
			defer cancel()
			return hsmErr(hsmadmin.Init(ctx, cmd.OutOrStdout(), cfg))
		},
	}
	initCmd.Flags().StringVarP(&initConfig, "config", "c", "", "node config file")
	initCmd.MarkFlagRequired("config")

	var statusConfig string
	statusCmd := &cobra.Command{
		Use:   "status --config FILE",
		Short: "Check the HSM directly and list this node's sealed files",
		Long: `Connect to this node's HSM as configured (not through the running node), check that
its key is usable, and list the node's sealed files with the backend and, for
vault-transit, the Transit key version that sealed each. A file sealed under a version
older than the key's newest needs ` + "`triad shard rewrap`" + `; one below the key's
min_decryption_version can no longer be opened.

It exits non-zero when the HSM is not ready or a sealed file cannot be opened. Nothing
is unsealed.

Example:
  triad hsm status --config configs/exchange.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadNodeConfig(statusConfig)
			if err != nil {
				return userError{Err: err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), hsmTimeout)
			defer cancel()
			return hsmErr(hsmadmin.Status(ctx, cmd.OutOrStdout(), cfg))
		},
	}
	statusCmd.Flags().StringVarP(&statusConfig, "config", "c", "", "node config file")
	statusCmd.MarkFlagRequired("config")

	hsmCmd.AddCommand(initCmd, statusCmd)
	return hsmCmd
}

// openHSM opens cfg's sealer; a configuration or secret-source mistake is
// the caller's to fix (exit 1), anything else the environment's (exit 2).
func openHSM(ctx context.Context, cfg *node.Config) (hsm.Sealer, error) {
	s, err := hsmadmin.Open(ctx, cfg)
	return s, hsmErr(err)
}

// hsmErr makes an HSM configuration mistake the caller's (exit 1).
func hsmErr(err error) error {
	if errors.Is(err, hsm.ErrConfig) {
		return userError{Err: err}
	}
	return err
}
