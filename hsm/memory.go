package hsm

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"sync/atomic"
)

// Memory is an in-memory Sealer for unit tests, with switches that force
// failures (like hashicorp/vault's physical/inmem). Its random AES-256-GCM key
// lives only in this process: blobs do not survive a restart, which is why
// New refuses the "memory" backend.
type Memory struct {
	aead        cipher.AEAD
	failSeal    atomic.Bool
	failUnseal  atomic.Bool
	unavailable atomic.Bool
	closed      atomic.Bool
}

var _ Sealer = (*Memory)(nil)

// NewMemory returns a Memory sealer with a fresh random key.
func NewMemory() *Memory {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("hsm: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	aead, err := newGCM(key)
	zero(key)
	if err != nil {
		panic("hsm: " + err.Error()) // a 32-byte key is always valid
	}
	return &Memory{aead: aead}
}

// SetFailSeal makes Seal fail with ErrInjected while on.
func (m *Memory) SetFailSeal(on bool) { m.failSeal.Store(on) }

// SetFailUnseal makes Unseal fail with ErrInjected while on.
func (m *Memory) SetFailUnseal(on bool) { m.failUnseal.Store(on) }

// SetUnavailable makes every call fail with ErrUnavailable while on, as if
// the HSM were unreachable.
func (m *Memory) SetUnavailable(on bool) { m.unavailable.Store(on) }

func (m *Memory) check(ctx context.Context, op string) error {
	if m.closed.Load() {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hsm: %s: %w", op, err)
	}
	if m.unavailable.Load() {
		return fmt.Errorf("%s: %w: memory backend switched off", op, ErrUnavailable)
	}
	return nil
}

// Seal implements Sealer.
func (m *Memory) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if err := m.check(ctx, "sealing"); err != nil {
		return nil, err
	}
	if m.failSeal.Load() {
		return nil, fmt.Errorf("sealing: %w", ErrInjected)
	}
	if err := checkPlaintext(plaintext); err != nil {
		return nil, fmt.Errorf("sealing: %w", err)
	}
	return gcmSeal(m.aead, newHeader(idMemory), aad, plaintext)
}

// Unseal implements Sealer.
func (m *Memory) Unseal(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	if err := m.check(ctx, "unsealing"); err != nil {
		return nil, err
	}
	if m.failUnseal.Load() {
		return nil, fmt.Errorf("unsealing: %w", ErrInjected)
	}
	header, payload, err := splitBlob(sealed, idMemory)
	if err != nil {
		return nil, fmt.Errorf("unsealing: %w", err)
	}
	pt, err := gcmOpen(m.aead, header, payload, aad)
	if err != nil {
		return nil, fmt.Errorf("unsealing: %w", err)
	}
	return pt, nil
}

// Health implements Sealer.
func (m *Memory) Health(ctx context.Context) error {
	return m.check(ctx, "health check")
}

// Backend implements Sealer.
func (m *Memory) Backend() string { return BackendMemory }

// Close implements Sealer.
func (m *Memory) Close() error {
	m.closed.Store(true)
	return nil
}
