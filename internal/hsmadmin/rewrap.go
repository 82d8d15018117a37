package hsmadmin

import (
	"context"
	"fmt"
	"io"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
)

// vaultRewrapper is what rewrap needs of the vault-transit sealer.
type vaultRewrapper interface {
	hsm.Rewrapper
	keystore.KeyVersions
	Rotate(ctx context.Context) error
}

// Rewrap is `triad shard rewrap`: optionally rotate the Transit key, then
// rewrap every sealed file of the node to its latest version, one line per
// file. Only vault-transit has key versions; any other backend is a
// configuration mistake (hsm.ErrConfig).
func Rewrap(ctx context.Context, out io.Writer, cfg *node.Config, rotate bool) error {
	if cfg.HSM.Backend != hsm.BackendVault {
		return fmt.Errorf("shard rewrap: hsm backend %s has no key versions to rewrap to; rewrap (and key rotation) applies "+
			"only to vault-transit. Nothing was changed: %w", cfg.HSM.Backend, hsm.ErrConfig)
	}
	s, err := Open(ctx, cfg)
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
	results, err := keystore.RewrapSealed(ctx, cfg.SealedDir(), v, func(r keystore.RewrapResult) {
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
		len(results), info.LatestVersion, TransitMount(cfg.HSM.Vault), key, info.LatestVersion)
	return nil
}
