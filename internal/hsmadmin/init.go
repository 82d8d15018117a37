package hsmadmin

import (
	"context"
	"fmt"
	"io"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
)

// Init creates cfg's sealing key in its HSM if absent and checks it.
func Init(ctx context.Context, out io.Writer, cfg *node.Config) error {
	h := cfg.HSM
	switch h.Backend {
	case hsm.BackendLocal:
		s, err := Open(ctx, cfg) // checks that the passphrase can be read
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
			return fmt.Errorf("initializing the pkcs11 key: %w", err)
		}
		s, err := Open(ctx, cfg)
		if err != nil {
			return err
		}
		defer s.Close()
		if created {
			fmt.Fprintf(out, "created AES-256 key %q in %s: sensitive, not extractable, encrypt/decrypt only\n", h.PKCS11.KeyLabel, Describe(h))
		} else {
			fmt.Fprintf(out, "AES-256 key %q is already in the token: nothing to do\n", h.PKCS11.KeyLabel)
		}
		if err := s.Health(ctx); err != nil {
			return fmt.Errorf("key %q: %w", h.PKCS11.KeyLabel, err)
		}
		fmt.Fprintf(out, "key usable: ok\n")
		return nil
	case hsm.BackendVault:
		s, err := Open(ctx, cfg) // creates the key if absent, checks it
		if err != nil {
			return err
		}
		defer s.Close()
		kv, ok := s.(keystore.KeyVersions)
		if !ok {
			return fmt.Errorf("vault-transit sealer reports no key versions")
		}
		info, err := kv.KeyInfo(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "transit key %q at %s/%s is ready: %s, derived, not exportable; latest version %d, min_decryption_version %d\n",
			info.Name, h.Vault.Address, TransitMount(h.Vault), info.Type, info.LatestVersion, info.MinDecryptionVersion)
		return nil
	}
	return fmt.Errorf("%w: hsm.backend %q: want %s, %s or %s", hsm.ErrConfig, h.Backend, hsm.BackendVault, hsm.BackendPKCS11, hsm.BackendLocal)
}
