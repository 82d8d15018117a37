package hsm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/hsm/hsmtest"
	"github.com/triad-custody/triad/hsm/vaulttest"
)

func newVault(t *testing.T, cfg hsm.VaultConfig) *hsm.Vault {
	t.Helper()
	s, err := hsm.NewVault(ctxFor(t), cfg, nil)
	if err != nil {
		t.Fatalf("NewVault: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestVaultConformance(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	cfg := srv.SealerConfig(t, "triad-node-a")
	hsmtest.Run(t, func(t *testing.T) hsm.Sealer { return newVault(t, cfg) })
}

func TestVaultConformanceTLS(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{TLS: true})
	cfg := srv.SealerConfig(t, "triad-node-a")
	if !strings.HasPrefix(cfg.Address, "https://") {
		t.Fatalf("address %q", cfg.Address)
	}
	hsmtest.Run(t, func(t *testing.T) hsm.Sealer { return newVault(t, cfg) })

	// Without the CA the server's certificate is not trusted: fail closed.
	cfg.TLS.CACert = ""
	if _, err := hsm.NewVault(ctxFor(t), cfg, nil); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("untrusted certificate: got %v, want ErrUnavailable", err)
	}
}

func TestVaultKeyCreatedDerived(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	s := newVault(t, srv.SealerConfig(t, "triad-node-a"))
	info, err := s.KeyInfo(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != "aes256-gcm96" || !info.Derived || info.Exportable || info.LatestVersion != 1 {
		t.Fatalf("key info %+v", info)
	}

	// A key that would ignore the AAD (not derived) is refused.
	root := srv.Client(t)
	if _, err := root.Logical().Write("transit/keys/plain", map[string]any{"type": "aes256-gcm96"}); err != nil {
		t.Fatal(err)
	}
	_, err = hsm.NewVault(ctxFor(t), srv.SealerConfig(t, "plain"), nil)
	if err == nil || !strings.Contains(err.Error(), "not derived") {
		t.Fatalf("non-derived key: got %v", err)
	}
}

func TestVaultNodeAShardDoesNotOpenAsNodeB(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	a := newVault(t, srv.SealerConfig(t, "triad-node-a"))
	b := newVault(t, srv.SealerConfig(t, "triad-node-b"))
	ctx := ctxFor(t)
	aadA := hsm.AAD{Node: "node-a", Party: "1", KeyID: "btc-cold"}
	aadB := hsm.AAD{Node: "node-b", Party: "2", KeyID: "btc-cold"}
	sealed, err := a.Seal(ctx, []byte("shard of node a"), aadA.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Unseal(ctx, sealed, aadB.Encode()); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("node A's key, node B's AAD: %v", err)
	}
	if _, err := b.Unseal(ctx, sealed, aadA.Encode()); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("node B's key, node A's AAD: %v", err)
	}
	if _, err := b.Unseal(ctx, sealed, aadB.Encode()); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("node B's key and AAD: %v", err)
	}
}

// Rotate → new seals use v2 → rewrap moves v1 blobs to v2 inside Vault →
// raising min_decryption_version makes v1 blobs fail with a distinct error.
func TestVaultRotateRewrapMinDecryptionVersion(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	s := newVault(t, srv.SealerConfig(t, "triad-node-a"))
	ctx := ctxFor(t)
	aad := hsm.AAD{Node: "node-a", Party: "1", KeyID: "btc-cold", Version: 1}.Encode()

	v1, err := s.Seal(ctx, []byte("shard"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := hsm.Inspect(v1); info.KeyVersion != 1 || info.Backend != hsm.BackendVault {
		t.Fatalf("Inspect(v1) = %+v", info)
	}
	if err := s.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := s.KeyInfo(ctx); err != nil || info.LatestVersion != 2 {
		t.Fatalf("after rotate: %+v, %v", info, err)
	}
	fresh, err := s.Seal(ctx, []byte("new shard"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := hsm.Inspect(fresh); info.KeyVersion != 2 {
		t.Fatalf("seal after rotate used version %d", info.KeyVersion)
	}
	if got, err := s.Unseal(ctx, v1, aad); err != nil || string(got) != "shard" {
		t.Fatalf("v1 blob before min version raised: %v", err)
	}

	// Rewrap authenticates the AAD and never returns plaintext.
	if _, err := s.Rewrap(ctx, v1, hsm.AAD{Node: "node-b", KeyID: "btc-cold"}.Encode()); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("rewrap with wrong AAD: %v", err)
	}
	v2, err := s.Rewrap(ctx, v1, aad)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := hsm.Inspect(v2); info.KeyVersion != 2 {
		t.Fatalf("rewrapped blob has version %d", info.KeyVersion)
	}

	root := srv.Client(t)
	if _, err := root.Logical().Write("transit/keys/triad-node-a/config", map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Unseal(ctx, v1, aad)
	if !errors.Is(err, hsm.ErrVersionBelowMinimum) || errors.Is(err, hsm.ErrAuthFailed) || errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("v1 blob after min version 2: got %v, want only ErrVersionBelowMinimum", err)
	}
	if !strings.Contains(err.Error(), "hsm: ciphertext version below minimum") {
		t.Fatalf("error text %q", err)
	}
	if _, err := s.Rewrap(ctx, v1, aad); !errors.Is(err, hsm.ErrVersionBelowMinimum) {
		t.Fatalf("rewrap of v1 after min version 2: %v", err)
	}
	for name, blob := range map[string][]byte{"rewrapped": v2, "fresh": fresh} {
		if _, err := s.Unseal(ctx, blob, aad); err != nil {
			t.Fatalf("%s blob after min version 2: %v", name, err)
		}
	}
}

// Vault stops: Health, Seal and Unseal fail closed with ErrUnavailable.
// Vault restarts sealed: still unavailable. Unsealed: the same Sealer works
// again, and blobs from before the outage still open (file storage keeps
// the key across the restart).
func TestVaultOutageFailsClosedThenRecovers(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	s := newVault(t, srv.SealerConfig(t, "triad-node-a"))
	aad := hsm.AAD{Node: "node-a", Party: "1", KeyID: "btc-cold"}.Encode()
	before, err := s.Seal(ctxFor(t), []byte("shard"), aad)
	if err != nil {
		t.Fatal(err)
	}

	srv.Stop(t)
	assertUnavailable(t, s, before, aad, "stopped")

	srv.Restart(t, false)
	assertUnavailable(t, s, before, aad, "sealed")

	srv.Unseal(t)
	ctx := ctxFor(t)
	if err := s.Health(ctx); err != nil {
		t.Fatalf("Health after recovery: %v", err)
	}
	if got, err := s.Unseal(ctx, before, aad); err != nil || string(got) != "shard" {
		t.Fatalf("Unseal of pre-outage blob: %v", err)
	}
	after, err := s.Seal(ctx, []byte("shard 2"), aad)
	if err != nil {
		t.Fatalf("Seal after recovery: %v", err)
	}
	if got, err := s.Unseal(ctx, after, aad); err != nil || string(got) != "shard 2" {
		t.Fatalf("roundtrip after recovery: %v", err)
	}
}

func assertUnavailable(t *testing.T, s hsm.Sealer, sealed, aad []byte, state string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	check := func(op string, out []byte, err error) {
		t.Helper()
		if !errors.Is(err, hsm.ErrUnavailable) || !strings.Contains(err.Error(), "unavailable") {
			t.Fatalf("%s with vault %s: got %v, want ErrUnavailable", op, state, err)
		}
		if out != nil {
			t.Fatalf("%s with vault %s returned bytes", op, state)
		}
	}
	check("Health", nil, s.Health(ctx))
	out, err := s.Seal(ctx, []byte("shard"), aad)
	check("Seal", out, err)
	out, err = s.Unseal(ctx, sealed, aad)
	check("Unseal", out, err)
}

// nodePolicy is the least a node's token needs (documented in doc.go).
const nodePolicy = `
path "transit/keys/triad-node-a"        { capabilities = ["read", "create", "update"] }
path "transit/keys/triad-node-a/rotate" { capabilities = ["update"] }
path "transit/keys/triad-node-a/config" { capabilities = ["update"] }
path "transit/encrypt/triad-node-a"     { capabilities = ["update"] }
path "transit/decrypt/triad-node-a"     { capabilities = ["update"] }
path "transit/rewrap/triad-node-a"      { capabilities = ["update"] }
`

// AppRole login with the documented least policy; when the token is
// revoked, the sealer logs in again by itself.
func TestVaultAppRoleAndRelogin(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	root := srv.Client(t)
	if err := root.Sys().EnableAuthWithOptions("approle", &vaultAuthOptions); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("triad-node-a", nodePolicy); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/approle/role/triad-node-a", map[string]any{
		"token_policies": "triad-node-a", "token_ttl": "1h", "secret_id_num_uses": 0,
	}); err != nil {
		t.Fatal(err)
	}
	r, err := root.Logical().Read("auth/approle/role/triad-node-a/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := root.Logical().Write("auth/approle/role/triad-node-a/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRIAD_TEST_ROLE_ID", r.Data["role_id"].(string))
	cfg := srv.SealerConfig(t, "triad-node-a")
	cfg.Auth = hsm.VaultAuthConfig{
		Method: "approle", RoleIDEnv: "TRIAD_TEST_ROLE_ID",
		SecretIDFile: vaulttest.WriteSecret(t, sid.Data["secret_id"].(string)),
	}
	s := newVault(t, cfg) // creates the key under the least policy
	ctx := ctxFor(t)
	aad := hsm.AAD{Node: "node-a", KeyID: "k"}.Encode()
	sealed, err := s.Seal(ctx, []byte("shard"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Rotate(ctx); err != nil {
		t.Fatalf("Rotate under node policy: %v", err)
	}
	rewrapped, err := s.Rewrap(ctx, sealed, aad)
	if err != nil {
		t.Fatalf("Rewrap under node policy: %v", err)
	}
	// A reshare's re-key retires the old version under the same policy
	// (../shared/SECURITY.md scenario 32).
	if err := s.Retire(ctx); err != nil {
		t.Fatalf("Retire under node policy: %v", err)
	}
	if _, err := s.Unseal(ctx, sealed, aad); !errors.Is(err, hsm.ErrVersionBelowMinimum) {
		t.Fatalf("Unseal of a blob from before Retire: %v", err)
	}
	sealed = rewrapped

	// Revoke every token of the role: the next call gets 403, re-logs in.
	if _, err := root.Logical().Write("sys/leases/revoke-prefix/auth/approle/login", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Unseal(ctx, sealed, aad); err != nil || string(got) != "shard" {
		t.Fatalf("Unseal after token revoked: %v", err)
	}

	// A policy that does not cover another node's key.
	other := cfg
	other.TransitKey = "triad-node-b"
	if _, err := hsm.NewVault(ctx, other, nil); !errors.Is(err, hsm.ErrUnavailable) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("key outside policy: %v", err)
	}
}

func TestVaultBadToken(t *testing.T) {
	srv := vaulttest.Start(t, vaulttest.Options{})
	cfg := srv.SealerConfig(t, "triad-node-a")
	cfg.Auth.TokenFile = vaulttest.WriteSecret(t, "hvs.not-a-real-token")
	_, err := hsm.NewVault(ctxFor(t), cfg, nil)
	if !errors.Is(err, hsm.ErrUnavailable) || strings.Contains(err.Error(), "not-a-real-token") {
		t.Fatalf("bad token: %v", err)
	}
}

var vaultAuthOptions = vaultapi.EnableAuthOptions{Type: "approle"}
