package hsm

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
)

// Memory is an in-memory Sealer for unit tests, with switches that force
// failures (like hashicorp/vault's physical/inmem). Its random AES-256-GCM key
// lives only in this process: blobs do not survive a restart, which is why
// New refuses the "memory" backend. It re-keys like the persistent
// backends (Rekeyer): Rotate adds a key, Retire forgets all but the newest.
type Memory struct {
	mu sync.RWMutex
	// keys[i] is the key of epoch first+i; the last is current.
	keys        []cipher.AEAD
	first       int
	failSeal    atomic.Bool
	failUnseal  atomic.Bool
	unavailable atomic.Bool
	closed      atomic.Bool
}

var _ Rekeyer = (*Memory)(nil)

// NewMemory returns a Memory sealer with a fresh random key.
func NewMemory() *Memory {
	return &Memory{keys: []cipher.AEAD{newMemoryKey()}, first: 1}
}

func newMemoryKey() cipher.AEAD {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("hsm: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	aead, err := newGCM(key)
	zero(key)
	if err != nil {
		panic("hsm: " + err.Error()) // a 32-byte key is always valid
	}
	return aead
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
	m.mu.RLock()
	aead := m.keys[len(m.keys)-1]
	m.mu.RUnlock()
	return gcmSeal(aead, newHeader(idMemory), aad, plaintext)
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
	m.mu.RLock()
	keys := m.keys
	m.mu.RUnlock()
	// Newest first; the blob names no epoch, and at most two keys are live
	// between Rotate and Retire.
	for i := len(keys) - 1; i >= 0; i-- {
		pt, err := gcmOpen(keys[i], header, payload, aad)
		if err == nil {
			return pt, nil
		}
		if i == 0 {
			return nil, fmt.Errorf("unsealing: %w", err)
		}
	}
	return nil, fmt.Errorf("unsealing: %w", ErrAuthFailed)
}

// Rewrap implements Rewrapper: unseal, then seal under the current key.
func (m *Memory) Rewrap(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	pt, err := m.Unseal(ctx, sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("rewrapping: %w", err)
	}
	defer zero(pt)
	return m.Seal(ctx, pt, aad)
}

// Rotate implements Rekeyer: a fresh random key becomes current.
func (m *Memory) Rotate(ctx context.Context) error {
	if err := m.check(ctx, "rotating"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys[:len(m.keys):len(m.keys)], newMemoryKey())
	return nil
}

// Retire implements Rekeyer: every key but the current one is forgotten.
func (m *Memory) Retire(ctx context.Context) error {
	if err := m.check(ctx, "retiring old keys"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.first += len(m.keys) - 1
	m.keys = m.keys[len(m.keys)-1:]
	return nil
}

// KeyEpoch implements Rekeyer.
func (m *Memory) KeyEpoch(ctx context.Context) (int, error) {
	if err := m.check(ctx, "reading the key epoch"); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.first + len(m.keys) - 1, nil
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
