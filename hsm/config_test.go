package hsm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/triad-custody/triad/hsm"
)

func TestConfigValidateNamesKeys(t *testing.T) {
	slot := uint(0)
	cases := []struct {
		cfg  hsm.Config
		want []string
	}{
		{hsm.Config{}, []string{"hsm.backend"}},
		{hsm.Config{Backend: "memory"}, []string{"hsm.backend", "tests only"}},
		{hsm.Config{Backend: "kms"}, []string{"hsm.backend", "unknown"}},
		{hsm.Config{Backend: hsm.BackendVault}, []string{"hsm.vault.address", "hsm.vault.transit_key", "hsm.vault.auth.token_env"}},
		{hsm.Config{Backend: hsm.BackendVault, Vault: hsm.VaultConfig{Address: "http://vault.example:8200", TransitKey: "k", Auth: hsm.VaultAuthConfig{TokenEnv: "T"}}},
			[]string{"hsm.vault.address", "https"}},
		{hsm.Config{Backend: hsm.BackendVault, Vault: hsm.VaultConfig{Address: "https://v:8200", TransitKey: "k", Auth: hsm.VaultAuthConfig{Method: "approle"}}},
			[]string{"hsm.vault.auth.role_id_env", "hsm.vault.auth.secret_id_env"}},
		{hsm.Config{Backend: hsm.BackendVault, Vault: hsm.VaultConfig{Address: "https://v:8200", TransitKey: "k", Auth: hsm.VaultAuthConfig{TokenEnv: "A", TokenFile: "/b"}}},
			[]string{"not both"}},
		{hsm.Config{Backend: hsm.BackendPKCS11}, []string{"hsm.pkcs11.module", "hsm.pkcs11.token_label", "hsm.pkcs11.pin_env", "hsm.pkcs11.key_label"}},
		{hsm.Config{Backend: hsm.BackendLocal}, []string{"hsm.local.passphrase_env", "passphrase_file"}},
		{hsm.Config{Backend: hsm.BackendLocal, Local: hsm.LocalConfig{PassphraseEnv: "P", Argon2: hsm.Argon2Params{Time: 99, MemoryKiB: 64, Threads: 1}}},
			[]string{"hsm.local.argon2"}},
	}
	for i, c := range cases {
		err := c.cfg.Validate()
		if !errors.Is(err, hsm.ErrConfig) {
			t.Errorf("case %d: got %v, want ErrConfig", i, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("case %d: %q does not mention %q", i, err, w)
			}
		}
	}
	good := []hsm.Config{
		{Backend: hsm.BackendVault, Vault: hsm.VaultConfig{Address: "http://127.0.0.1:8200", TransitKey: "triad-node-a", Auth: hsm.VaultAuthConfig{TokenFile: "/run/t"}}},
		{Backend: hsm.BackendVault, Vault: hsm.VaultConfig{Address: "https://vault:8200", TransitKey: "k", Auth: hsm.VaultAuthConfig{Method: "approle", RoleIDFile: "/r", SecretIDEnv: "S"}}},
		{Backend: hsm.BackendPKCS11, PKCS11: hsm.PKCS11Config{Module: "/m.so", Slot: &slot, PINFile: "/p", KeyLabel: "triad-node-a"}},
		{Backend: hsm.BackendLocal, Local: hsm.LocalConfig{PassphraseEnv: "P"}},
	}
	for i, c := range good {
		if err := c.Validate(); err != nil {
			t.Errorf("good config %d: %v", i, err)
		}
	}
}

func TestNewRefusesMemoryAndMissingSecrets(t *testing.T) {
	ctx := context.Background()
	if _, err := hsm.New(ctx, hsm.Config{Backend: hsm.BackendMemory}); !errors.Is(err, hsm.ErrConfig) {
		t.Fatalf("memory via New: %v", err)
	}
	_, err := hsm.New(ctx, hsm.Config{Backend: hsm.BackendLocal, Local: hsm.LocalConfig{PassphraseEnv: "TRIAD_TEST_SURELY_UNSET"}})
	if !errors.Is(err, hsm.ErrConfig) || !strings.Contains(err.Error(), "hsm.local.passphrase_env") {
		t.Fatalf("unset passphrase env: %v", err)
	}
}
