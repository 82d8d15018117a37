package hsm

import (
	"context"
	"errors"
)

// Sealer seals and unseals small secrets (a shard, pre-params, a libp2p
// identity) under a key that never leaves the HSM, binding each blob to
// additional authenticated data (see AAD).
//
// Implementations are safe for concurrent use. They fail closed: when the
// backend cannot be reached they return an error wrapping ErrUnavailable and
// never fall back to plaintext; once the backend is back, the same Sealer
// works again without being rebuilt.
type Sealer interface {
	// Seal encrypts plaintext bound to aad and returns a versioned blob.
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	// Unseal authenticates sealed against aad and returns the plaintext.
	// The caller owns the returned slice and should zero it after use.
	Unseal(ctx context.Context, sealed, aad []byte) ([]byte, error)
	// Health returns nil when the backend is reachable and the key usable.
	Health(ctx context.Context) error
	// Backend names the backend: BackendVault, BackendPKCS11, BackendLocal
	// or BackendMemory.
	Backend() string
	// Close releases sessions and connections. The Sealer is unusable after.
	Close() error
}

// Rewrapper is implemented by sealers whose key can rotate (every backend,
// see Rekeyer). Rewrap re-encrypts sealed under the newest key, keeping the
// same aad; with vault-transit the plaintext never leaves Vault, with the
// other backends it passes through this process as it does in Unseal.
type Rewrapper interface {
	Sealer
	Rewrap(ctx context.Context, sealed, aad []byte) ([]byte, error)
}

// Backend names, as returned by Sealer.Backend and accepted in Config.Backend.
const (
	BackendVault  = "vault-transit"
	BackendPKCS11 = "pkcs11"
	BackendLocal  = "local"
	BackendMemory = "memory"
)

// MaxPlaintext is the largest plaintext any backend seals (shards and
// pre-params are a few KiB; Vault limits request bodies).
const MaxPlaintext = 4 << 20

// Sentinel errors. Backends wrap them with %w, saying what was being done;
// no error ever contains plaintext or key bytes.
var (
	// ErrUnavailable: the HSM or Vault cannot be reached, or the key is not
	// usable right now (sealed Vault, lost session, permission denied).
	ErrUnavailable = errors.New("hsm: unavailable")
	// ErrAuthFailed: the blob does not authenticate: wrong key, wrong AAD or
	// tampered bytes.
	ErrAuthFailed = errors.New("hsm: authentication failed")
	// ErrVersionBelowMinimum: the blob was sealed under a key version that
	// the key's policy no longer accepts (Transit min_decryption_version).
	ErrVersionBelowMinimum = errors.New("hsm: ciphertext version below minimum")
	// ErrMalformed: the input is not a well-formed sealed blob.
	ErrMalformed = errors.New("hsm: malformed sealed blob")
	// ErrWrongBackend: the blob was sealed by a different backend.
	ErrWrongBackend = errors.New("hsm: sealed by a different backend")
	// ErrUnsupportedFormat: the blob's format version is unknown.
	ErrUnsupportedFormat = errors.New("hsm: unsupported blob format version")
	// ErrTooLarge: the plaintext exceeds MaxPlaintext.
	ErrTooLarge = errors.New("hsm: plaintext too large")
	// ErrConfig: the configuration is invalid; the message names the key.
	ErrConfig = errors.New("hsm: invalid config")
	// ErrKeyNotFound: the sealing key does not exist (run `triad hsm init`).
	ErrKeyNotFound = errors.New("hsm: key not found")
	// ErrClosed: the Sealer was closed.
	ErrClosed = errors.New("hsm: sealer closed")
	// ErrInjected: a failure forced through Memory's switches.
	ErrInjected = errors.New("hsm: injected failure")
	// ErrBackend: the backend refused the request for another reason.
	ErrBackend = errors.New("hsm: backend error")
)
