package hsm

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	vault "github.com/hashicorp/vault/api"
)

// Vault seals through a Vault Transit key. The key is a *derived*
// aes256-gcm96 key and each blob's header and AAD are its Transit
// "context": Transit derives a per-context key, so a wrong AAD fails GCM
// authentication, and rewrap (which in Vault 1.17 accepts context but not
// associated_data) keeps working server-side. A non-derived key would
// silently ignore the context, so it is refused, as is an exportable key.
//
// Vault payload after the common header:
//
//	key name length u16 | key name | Transit ciphertext "vault:v<N>:<base64>"
type Vault struct {
	client *vault.Client // carries the token
	login  *vault.Client // no token; for AppRole login
	cfg    VaultConfig
	mount  string
	log    *slog.Logger

	loginMu  sync.Mutex
	tokenGen atomic.Uint64 // bumped on every successful (re-)login
	closed   atomic.Bool
}

var (
	_ Sealer    = (*Vault)(nil)
	_ Rewrapper = (*Vault)(nil)
	_ Rekeyer   = (*Vault)(nil)
)

// NewVault logs in and makes sure the transit key exists (creating a derived
// aes256-gcm96 key if absent) and is usable. log may be nil.
func NewVault(ctx context.Context, cfg VaultConfig, log *slog.Logger) (*Vault, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	client, err := newVaultClient(cfg)
	if err != nil {
		return nil, err
	}
	login, err := newVaultClient(cfg)
	if err != nil {
		return nil, err
	}
	v := &Vault{client: client, login: login, cfg: cfg, mount: cfg.TransitMount, log: log}
	if v.mount == "" {
		v.mount = "transit"
	}
	if err := v.relogin(ctx, 0); err != nil {
		return nil, fmt.Errorf("opening vault-transit sealer: %w", err)
	}
	if err := v.ensureKey(ctx); err != nil {
		return nil, fmt.Errorf("opening vault-transit sealer: %w", err)
	}
	return v, nil
}

// relogin fetches a new token unless another goroutine already did so since
// the caller saw generation seen.
func (v *Vault) relogin(ctx context.Context, seen uint64) error {
	v.loginMu.Lock()
	defer v.loginMu.Unlock()
	if v.tokenGen.Load() != seen {
		return nil
	}
	tok, err := vaultLogin(ctx, v.login, v.cfg.Auth)
	if err != nil {
		return err
	}
	v.client.SetToken(tok)
	if v.tokenGen.Add(1) > 1 {
		v.log.Info("hsm: re-authenticated to vault", "backend", BackendVault, "key", v.cfg.TransitKey)
	}
	return nil
}

// call runs fn, re-logging in once if Vault answers 403 (expired token).
func (v *Vault) call(ctx context.Context, op string, fn func(context.Context) (*vault.Secret, error)) (*vault.Secret, error) {
	if v.closed.Load() {
		return nil, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hsm: %s: %w", op, err)
	}
	gen := v.tokenGen.Load()
	s, err := fn(ctx)
	if err != nil && isPermissionDenied(err) {
		if lerr := v.relogin(ctx, gen); lerr != nil {
			return nil, fmt.Errorf("%s: %w", op, lerr)
		}
		s, err = fn(ctx)
	}
	if err != nil {
		return nil, classifyVault(op, err)
	}
	return s, nil
}

func (v *Vault) write(ctx context.Context, op, path string, data map[string]any) (*vault.Secret, error) {
	return v.call(ctx, op, func(ctx context.Context) (*vault.Secret, error) {
		return v.client.Logical().WriteWithContext(ctx, v.mount+"/"+path, data)
	})
}

func (v *Vault) keyPath(action string) string {
	return action + "/" + v.cfg.TransitKey
}

// VaultKeyInfo is the Transit key's public metadata.
type VaultKeyInfo struct {
	Name                 string
	Type                 string
	Derived, Exportable  bool
	LatestVersion        int
	MinDecryptionVersion int
	MinEncryptionVersion int
}

// KeyInfo reads the Transit key's metadata (no key material).
func (v *Vault) KeyInfo(ctx context.Context) (VaultKeyInfo, error) {
	s, err := v.call(ctx, "reading transit key", func(ctx context.Context) (*vault.Secret, error) {
		return v.client.Logical().ReadWithContext(ctx, v.mount+"/keys/"+v.cfg.TransitKey)
	})
	if err != nil {
		return VaultKeyInfo{}, err
	}
	if s == nil || s.Data == nil || s.Data["type"] == nil {
		return VaultKeyInfo{}, fmt.Errorf("reading transit key %q: %w", v.cfg.TransitKey, ErrKeyNotFound)
	}
	info := VaultKeyInfo{Name: v.cfg.TransitKey}
	info.Type, _ = s.Data["type"].(string)
	info.Derived, _ = s.Data["derived"].(bool)
	info.Exportable, _ = s.Data["exportable"].(bool)
	info.LatestVersion = jsonInt(s.Data["latest_version"])
	info.MinDecryptionVersion = jsonInt(s.Data["min_decryption_version"])
	info.MinEncryptionVersion = jsonInt(s.Data["min_encryption_version"])
	return info, nil
}

func jsonInt(v any) int {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	}
	return 0
}

func (info VaultKeyInfo) check() error {
	switch {
	case info.Type != "aes256-gcm96":
		return fmt.Errorf("%w: transit key %q has type %q, want aes256-gcm96", ErrBackend, info.Name, info.Type)
	case !info.Derived:
		return fmt.Errorf("%w: transit key %q is not derived, so it would ignore the AAD; create it with derived=true", ErrBackend, info.Name)
	case info.Exportable:
		return fmt.Errorf("%w: transit key %q is exportable; its key could leave Vault", ErrBackend, info.Name)
	}
	return nil
}

func (v *Vault) ensureKey(ctx context.Context) error {
	info, err := v.KeyInfo(ctx)
	if err == nil {
		return info.check()
	}
	if !isKeyNotFound(err) {
		return err
	}
	if _, err := v.write(ctx, "creating transit key", v.keyPath("keys"), map[string]any{
		"type": "aes256-gcm96", "derived": true, "exportable": false, "allow_plaintext_backup": false,
	}); err != nil {
		return err
	}
	v.log.Info("hsm: created transit key", "backend", BackendVault, "key", v.cfg.TransitKey)
	if info, err = v.KeyInfo(ctx); err != nil {
		return err
	}
	return info.check()
}

func isKeyNotFound(err error) bool { return errors.Is(err, ErrKeyNotFound) }

// Health reads the key's metadata: nil when Vault answers, the token is
// valid and the key is a derived, non-exportable aes256-gcm96 key.
func (v *Vault) Health(ctx context.Context) error {
	info, err := v.KeyInfo(ctx)
	if err != nil {
		if isKeyNotFound(err) {
			return fmt.Errorf("health check: %w: %w", ErrUnavailable, err)
		}
		return fmt.Errorf("health check: %w", err)
	}
	if err := info.check(); err != nil {
		return fmt.Errorf("health check: %w: %w", ErrUnavailable, err)
	}
	return nil
}

// context is what Transit derives the key from: blob header || AAD.
func transitContext(aad []byte) string {
	return base64.StdEncoding.EncodeToString(boundData(newHeader(idVault), aad))
}

// Seal implements Sealer.
func (v *Vault) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if err := checkPlaintext(plaintext); err != nil {
		return nil, fmt.Errorf("sealing: %w", err)
	}
	s, err := v.write(ctx, "sealing", v.keyPath("encrypt"), map[string]any{
		"plaintext": base64.StdEncoding.EncodeToString(plaintext),
		"context":   transitContext(aad),
	})
	if err != nil {
		return nil, err
	}
	return v.blobFromResponse("sealing", s)
}

func (v *Vault) blobFromResponse(op string, s *vault.Secret) ([]byte, error) {
	if s == nil || s.Data == nil {
		return nil, fmt.Errorf("%s: %w: empty response from vault", op, ErrBackend)
	}
	ct, _ := s.Data["ciphertext"].(string)
	if _, err := parseTransitCiphertext(ct); err != nil {
		return nil, fmt.Errorf("%s: %w: unexpected ciphertext from vault", op, ErrBackend)
	}
	b := newHeader(idVault)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v.cfg.TransitKey)))
	b = append(b, v.cfg.TransitKey...)
	return append(b, ct...), nil
}

// parseSealed checks the blob and that it was sealed under this key.
func (v *Vault) parseSealed(sealed []byte) (transitCiphertext, error) {
	_, payload, err := splitBlob(sealed, idVault)
	if err != nil {
		return transitCiphertext{}, err
	}
	key, ct, err := parseVaultPayload(payload)
	if err != nil {
		return transitCiphertext{}, err
	}
	if key != v.cfg.TransitKey {
		return transitCiphertext{}, fmt.Errorf("%w: sealed under transit key %q, this sealer uses %q", ErrAuthFailed, key, v.cfg.TransitKey)
	}
	return ct, nil
}

// Unseal implements Sealer. A blob sealed under a key version below the
// key's min_decryption_version fails with ErrVersionBelowMinimum.
func (v *Vault) Unseal(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	ct, err := v.parseSealed(sealed)
	if err != nil {
		return nil, fmt.Errorf("unsealing: %w", err)
	}
	s, err := v.write(ctx, "unsealing", v.keyPath("decrypt"), map[string]any{
		"ciphertext": ct.raw, "context": transitContext(aad),
	})
	if err != nil {
		return nil, err
	}
	if s == nil || s.Data == nil {
		return nil, fmt.Errorf("unsealing: %w: empty response from vault", ErrBackend)
	}
	b64, _ := s.Data["plaintext"].(string)
	pt, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("unsealing: %w: unexpected plaintext encoding from vault", ErrBackend)
	}
	return pt, nil
}

// Rewrap re-encrypts sealed under the latest key version inside Vault (the
// plaintext never leaves it). It authenticates the blob against aad.
func (v *Vault) Rewrap(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	ct, err := v.parseSealed(sealed)
	if err != nil {
		return nil, fmt.Errorf("rewrapping: %w", err)
	}
	s, err := v.write(ctx, "rewrapping", v.keyPath("rewrap"), map[string]any{
		"ciphertext": ct.raw, "context": transitContext(aad),
	})
	if err != nil {
		return nil, err
	}
	return v.blobFromResponse("rewrapping", s)
}

// Rotate adds a new version to the transit key; new seals use it, old blobs
// still unseal until min_decryption_version is raised. Rewrap them first.
func (v *Vault) Rotate(ctx context.Context) error {
	_, err := v.write(ctx, "rotating transit key", v.keyPath("keys")+"/rotate", nil)
	return err
}

// Retire implements Rekeyer: it raises the key's min_decryption_version to
// its latest version, so Vault refuses every older ciphertext
// (ErrVersionBelowMinimum). Rewrap every blob first.
func (v *Vault) Retire(ctx context.Context) error {
	info, err := v.KeyInfo(ctx)
	if err != nil {
		return fmt.Errorf("retiring old transit key versions: %w", err)
	}
	if info.MinDecryptionVersion >= info.LatestVersion {
		return nil
	}
	_, err = v.write(ctx, "raising min_decryption_version", v.keyPath("keys")+"/config", map[string]any{
		"min_decryption_version": info.LatestVersion,
	})
	if err != nil {
		return err
	}
	v.log.Info("hsm: retired old transit key versions", "backend", BackendVault, "key", v.cfg.TransitKey,
		"min_decryption_version", info.LatestVersion)
	return nil
}

// KeyEpoch implements Rekeyer: the transit key's latest version.
func (v *Vault) KeyEpoch(ctx context.Context) (int, error) {
	info, err := v.KeyInfo(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the key epoch: %w", err)
	}
	return info.LatestVersion, nil
}

// Backend implements Sealer.
func (v *Vault) Backend() string { return BackendVault }

// Close drops the token from memory. In-flight calls may still finish.
func (v *Vault) Close() error {
	v.closed.Store(true)
	v.client.ClearToken()
	return nil
}
