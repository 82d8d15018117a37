package hsm

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2Params sets the cost of argon2id in the local backend. The zero
// value means the defaults. Parameters are stored in each blob, so blobs
// sealed with other parameters still unseal.
type Argon2Params struct {
	Time      uint32 `mapstructure:"time"`       // passes; default 1
	MemoryKiB uint32 `mapstructure:"memory_kib"` // default 65536 (64 MiB)
	Threads   uint8  `mapstructure:"threads"`    // default 2
}

// DefaultArgon2 is the cost used when LocalConfig.Argon2 is zero.
var DefaultArgon2 = Argon2Params{Time: 1, MemoryKiB: 64 * 1024, Threads: 2}

// Upper bounds, checked on configs and on blobs before any work, so a
// crafted blob cannot make Unseal allocate gigabytes or spin for minutes.
const (
	maxArgonTime    = 16
	maxArgonMemKiB  = 1 << 20 // 1 GiB
	maxArgonThreads = 16
)

func (p Argon2Params) withDefaults() Argon2Params {
	if p == (Argon2Params{}) {
		return DefaultArgon2
	}
	return p
}

func (p Argon2Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxArgonTime:
		return fmt.Errorf("time %d outside 1..%d", p.Time, maxArgonTime)
	case p.Threads < 1 || p.Threads > maxArgonThreads:
		return fmt.Errorf("threads %d outside 1..%d", p.Threads, maxArgonThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxArgonMemKiB:
		return fmt.Errorf("memory_kib %d outside %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxArgonMemKiB)
	}
	return nil
}

// Local payload after the common header:
//
//	time u32 | memory_kib u32 | threads u8 | salt [16] | nonce [12] | ciphertext+tag
//
// Everything before the ciphertext is authenticated with the AAD.
const (
	localSaltLen   = 16
	localParamsLen = 4 + 4 + 1 + localSaltLen
)

// Local seals with AES-256-GCM under a key derived from a passphrase with
// argon2id, a fresh salt per blob. It is the embedded default for demos: the
// key is only as strong as the passphrase, and lives in this process.
type Local struct {
	mu     sync.RWMutex
	pass   []byte // nil once closed
	params Argon2Params
	// saltFile and salts: the key epochs (local_rekey.go); empty without
	// a salt file.
	saltFile string
	salts    localSalts
}

var _ Rekeyer = (*Local)(nil)

// MinPassphrase is the shortest passphrase NewLocal accepts.
const MinPassphrase = 12

// NewLocal returns a Local sealer. It copies passphrase; params zero means
// DefaultArgon2.
func NewLocal(passphrase []byte, params Argon2Params) (*Local, error) {
	if len(passphrase) < MinPassphrase {
		return nil, fmt.Errorf("%w: hsm.local: passphrase too short: it must be at least %d bytes", ErrConfig, MinPassphrase)
	}
	params = params.withDefaults()
	if err := params.validate(); err != nil {
		return nil, fmt.Errorf("%w: hsm.local.argon2: %v", ErrConfig, err)
	}
	return &Local{pass: append([]byte(nil), passphrase...), params: params}, nil
}

// derive returns the key of one blob: argon2id of the passphrase, salted
// with the blob's salt followed by the key epoch's salt (empty at epoch 0).
func (l *Local) derive(p Argon2Params, salt, epochSalt []byte) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.pass == nil {
		return nil, ErrClosed
	}
	s := append(append(make([]byte, 0, len(salt)+len(epochSalt)), salt...), epochSalt...)
	return argon2.IDKey(l.pass, s, p.Time, p.MemoryKiB, p.Threads, 32), nil
}

// Seal implements Sealer.
func (l *Local) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hsm: sealing: %w", err)
	}
	if err := checkPlaintext(plaintext); err != nil {
		return nil, fmt.Errorf("sealing: %w", err)
	}
	prefix := newHeader(idLocal)
	prefix = binary.BigEndian.AppendUint32(prefix, l.params.Time)
	prefix = binary.BigEndian.AppendUint32(prefix, l.params.MemoryKiB)
	prefix = append(prefix, l.params.Threads)
	salt := make([]byte, localSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("hsm: sealing: reading salt: %w", err)
	}
	prefix = append(prefix, salt...)

	key, err := l.derive(l.params, salt, l.liveSalts()[0])
	if err != nil {
		return nil, fmt.Errorf("sealing: %w", err)
	}
	defer zero(key)
	aead, err := newGCM(key)
	if err != nil {
		return nil, fmt.Errorf("sealing: %w", err)
	}
	return gcmSeal(aead, prefix, aad, plaintext)
}

// Unseal implements Sealer.
func (l *Local) Unseal(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hsm: unsealing: %w", err)
	}
	_, payload, err := splitBlob(sealed, idLocal)
	if err != nil {
		return nil, fmt.Errorf("unsealing: %w", err)
	}
	if len(payload) < localParamsLen {
		return nil, fmt.Errorf("unsealing: %w: local payload of %d bytes is too short", ErrMalformed, len(payload))
	}
	p := Argon2Params{
		Time:      binary.BigEndian.Uint32(payload[0:4]),
		MemoryKiB: binary.BigEndian.Uint32(payload[4:8]),
		Threads:   payload[8],
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("unsealing: %w: argon2 parameters in blob: %v", ErrMalformed, err)
	}
	salt := payload[9:localParamsLen]
	prefixEnd := headerLen + localParamsLen
	// Every live epoch, newest first: the blob names none, and at most two
	// are live between Rotate and Retire.
	for _, epochSalt := range l.liveSalts() {
		key, err := l.derive(p, salt, epochSalt)
		if err != nil {
			return nil, fmt.Errorf("unsealing: %w", err)
		}
		aead, err := newGCM(key)
		zero(key)
		if err != nil {
			return nil, fmt.Errorf("unsealing: %w", err)
		}
		if pt, err := gcmOpen(aead, sealed[:prefixEnd], sealed[prefixEnd:], aad); err == nil {
			return pt, nil
		} else if !errors.Is(err, ErrAuthFailed) {
			return nil, fmt.Errorf("unsealing: %w", err)
		}
	}
	return nil, fmt.Errorf("unsealing: %w", ErrAuthFailed)
}

// Health implements Sealer: nil until Close.
func (l *Local) Health(ctx context.Context) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.pass == nil {
		return fmt.Errorf("health check: %w", ErrClosed)
	}
	return ctx.Err()
}

// Backend implements Sealer.
func (l *Local) Backend() string { return BackendLocal }

// Close zeroes the passphrase copy.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	zero(l.pass)
	l.pass = nil
	return nil
}
