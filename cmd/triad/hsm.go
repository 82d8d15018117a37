package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
)

// hsmTimeout bounds one HSM command (login, key creation, a few calls).
const hsmTimeout = time.Minute

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
			cfg, err := node.LoadConfig(initConfig)
			if err != nil {
				return userError{Err: err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), hsmTimeout)
			defer cancel()
			return hsmInit(ctx, cmd.OutOrStdout(), cfg)
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
			cfg, err := node.LoadConfig(statusConfig)
			if err != nil {
				return userError{Err: err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), hsmTimeout)
			defer cancel()
			return hsmStatus(ctx, cmd.OutOrStdout(), cfg)
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
	s, err := hsm.New(ctx, cfg.HSM)
	if err != nil {
		if errors.Is(err, hsm.ErrConfig) {
			return nil, userError{Err: fmt.Errorf("opening the HSM: %w", err)}
		}
		return nil, fmt.Errorf("opening the HSM: %w", err)
	}
	return s, nil
}

// describeHSM names the backend and where its key lives; no secrets.
func describeHSM(c hsm.Config) string {
	switch c.Backend {
	case hsm.BackendVault:
		return fmt.Sprintf("%s (%s, transit key %q)", c.Backend, c.Vault.Address, c.Vault.TransitKey)
	case hsm.BackendPKCS11:
		tok := fmt.Sprintf("token %q", c.PKCS11.TokenLabel)
		if c.PKCS11.Slot != nil {
			tok = fmt.Sprintf("slot %d", *c.PKCS11.Slot)
		}
		return fmt.Sprintf("%s (%s, %s, key %q)", c.Backend, c.PKCS11.Module, tok, c.PKCS11.KeyLabel)
	case hsm.BackendLocal:
		return c.Backend + " (passphrase; NOT HSM-backed: demos and tests only)"
	}
	return c.Backend
}

func transitMount(c hsm.VaultConfig) string {
	if c.TransitMount == "" {
		return "transit"
	}
	return c.TransitMount
}

func hsmInit(ctx context.Context, out io.Writer, cfg *node.Config) error {
	h := cfg.HSM
	switch h.Backend {
	case hsm.BackendLocal:
		s, err := openHSM(ctx, cfg) // checks that the passphrase can be read
		if err != nil {
			return err
		}
		s.Close()
		fmt.Fprintf(out, "hsm backend local: nothing to initialize; the sealing key is derived from the passphrase (argon2id).\n"+
			"Shards sealed this way are NOT HSM-backed: use vault-transit or pkcs11 outside demos and tests.\n")
		return nil
	case hsm.BackendPKCS11:
		created, err := hsm.InitPKCS11(ctx, h.PKCS11)
		if err != nil {
			if errors.Is(err, hsm.ErrConfig) {
				return userError{Err: fmt.Errorf("initializing the pkcs11 key: %w", err)}
			}
			return fmt.Errorf("initializing the pkcs11 key: %w", err)
		}
		s, err := openHSM(ctx, cfg)
		if err != nil {
			return err
		}
		defer s.Close()
		if created {
			fmt.Fprintf(out, "created AES-256 key %q in %s: sensitive, not extractable, encrypt/decrypt only\n", h.PKCS11.KeyLabel, describeHSM(h))
		} else {
			fmt.Fprintf(out, "AES-256 key %q is already in the token: nothing to do\n", h.PKCS11.KeyLabel)
		}
		if err := s.Health(ctx); err != nil {
			return fmt.Errorf("key %q: %w", h.PKCS11.KeyLabel, err)
		}
		fmt.Fprintf(out, "key usable: ok\n")
		return nil
	case hsm.BackendVault:
		s, err := openHSM(ctx, cfg) // creates the key if absent, checks it
		if err != nil {
			return err
		}
		defer s.Close()
		kv, ok := s.(node.KeyVersions)
		if !ok {
			return fmt.Errorf("vault-transit sealer reports no key versions")
		}
		info, err := kv.KeyInfo(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "transit key %q at %s/%s is ready: %s, derived, not exportable; latest version %d, min_decryption_version %d\n",
			info.Name, h.Vault.Address, transitMount(h.Vault), info.Type, info.LatestVersion, info.MinDecryptionVersion)
		return nil
	}
	return userErr("hsm.backend %q: want %s, %s or %s", h.Backend, hsm.BackendVault, hsm.BackendPKCS11, hsm.BackendLocal)
}

func hsmStatus(ctx context.Context, out io.Writer, cfg *node.Config) error {
	fmt.Fprintf(out, "party      %s\nbackend    %s\n", cfg.Party, describeHSM(cfg.HSM))
	var notReady error
	var info *hsm.VaultKeyInfo
	s, err := openHSM(ctx, cfg)
	if err != nil {
		var ue userError
		if errors.As(err, &ue) {
			return err
		}
		notReady = err
	} else {
		defer s.Close()
		notReady = s.Health(ctx)
		if kv, ok := s.(node.KeyVersions); ok && notReady == nil {
			ki, err := kv.KeyInfo(ctx)
			if err != nil {
				notReady = err
			} else {
				info = &ki
			}
		}
	}
	if notReady != nil {
		fmt.Fprintf(out, "health     NOT READY: %v\n", notReady)
	} else {
		fmt.Fprintf(out, "health     ok\n")
	}
	if info != nil {
		fmt.Fprintf(out, "key        latest version %d, min_decryption_version %d\n", info.LatestVersion, info.MinDecryptionVersion)
	}
	files, err := node.SealedFiles(cfg, s)
	if err != nil {
		return err
	}
	var unusable int
	for _, f := range files {
		note, bad := describeSealed(f, cfg.HSM.Backend, info)
		if bad {
			unusable++
		}
		fmt.Fprintf(out, "file       %-28s %s\n", f.Rel, note)
	}
	if len(files) == 0 {
		fmt.Fprintf(out, "file       (none yet: run `triad init`)\n")
	}
	switch {
	case notReady != nil:
		return fmt.Errorf("the HSM of %s is NOT READY: the node cannot sign", cfg.Party)
	case unusable > 0:
		return fmt.Errorf("%d sealed file(s) of %s cannot be opened with this HSM key", unusable, cfg.Party)
	}
	return nil
}

// describeSealed reads a blob's header (no unsealing) and says whether the
// configured key can still open it.
func describeSealed(f node.SealedEntry, backend string, info *hsm.VaultKeyInfo) (string, bool) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return "UNREADABLE: " + err.Error(), true
	}
	bi, err := hsm.Inspect(b)
	if err != nil {
		return "UNUSABLE: " + err.Error(), true
	}
	if bi.Backend != backend {
		return fmt.Sprintf("UNUSABLE: sealed by %s, but the config says %s", bi.Backend, backend), true
	}
	if bi.Backend != hsm.BackendVault {
		return bi.Backend, false
	}
	note := fmt.Sprintf("%s v%d", bi.Backend, bi.KeyVersion)
	switch {
	case info == nil:
	case bi.KeyVersion < info.MinDecryptionVersion:
		return note + fmt.Sprintf("  UNUSABLE: below min_decryption_version %d", info.MinDecryptionVersion), true
	case bi.KeyVersion < info.LatestVersion:
		note += fmt.Sprintf("  rewrap pending (latest v%d): run `triad shard rewrap`", info.LatestVersion)
	}
	return note, false
}
