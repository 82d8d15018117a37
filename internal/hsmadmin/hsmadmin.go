package hsmadmin

import (
	"context"
	"fmt"
	"time"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
)

// Timeout bounds one HSM command (login, key creation, a few calls).
const Timeout = time.Minute

// Open opens cfg's sealer; a configuration or secret-source mistake
// wraps hsm.ErrConfig.
func Open(ctx context.Context, cfg *node.Config) (hsm.Sealer, error) {
	s, err := hsm.New(ctx, cfg.HSM)
	if err != nil {
		return nil, fmt.Errorf("opening the HSM: %w", err)
	}
	return s, nil
}

// Describe names the backend and where its key lives; no secrets.
func Describe(c hsm.Config) string {
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

// TransitMount is the Transit mount path (default "transit").
func TransitMount(c hsm.VaultConfig) string {
	if c.TransitMount == "" {
		return "transit"
	}
	return c.TransitMount
}
