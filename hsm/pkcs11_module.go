//go:build cgo

package hsm

import (
	"errors"
	"fmt"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// A PKCS#11 library is process-wide state: C_Initialize twice fails and
// C_Finalize ends every session. p11Module shares one loaded library per
// path between sealers and finalizes it when the last one closes.
type p11Module struct {
	path string
	ctx  *p11.Ctx
	refs int // guarded by p11Modules.mu

	// rw is held shared by every Cryptoki call and exclusively by reset, so
	// C_Finalize never runs while another call is inside the library.
	rw      sync.RWMutex
	gen     uint64 // bumped by reset; sessions of older generations are dead
	ownInit bool   // we called C_Initialize successfully, so we finalize
	// initMu serialises key generation (InitPKCS11) within the process.
	initMu sync.Mutex
}

var p11Modules = struct {
	mu sync.Mutex
	m  map[string]*p11Module
}{m: map[string]*p11Module{}}

func openP11Module(path string) (*p11Module, error) {
	p11Modules.mu.Lock()
	defer p11Modules.mu.Unlock()
	if m := p11Modules.m[path]; m != nil {
		m.refs++
		return m, nil
	}
	ctx := p11.New(path)
	if ctx == nil {
		return nil, cfgErr("hsm.pkcs11.module", "cannot load PKCS#11 library %s", path)
	}
	err := ctx.Initialize()
	if err != nil && !isRV(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, fmt.Errorf("%w: initializing PKCS#11 library %s: %v", ErrUnavailable, path, err)
	}
	m := &p11Module{path: path, ctx: ctx, refs: 1, ownInit: err == nil}
	p11Modules.m[path] = m
	return m, nil
}

// reset finalizes and re-initializes the library so it rescans its slots:
// the way back after a token vanished or the library was finalized under us.
// seen is the generation the caller failed in; if another goroutine already
// reset since, reset does nothing. Sessions of every sealer sharing the
// module die; each sealer reopens its own on its next call.
func (m *p11Module) reset(seen uint64) error {
	m.rw.Lock()
	defer m.rw.Unlock()
	if m.gen != seen {
		return nil
	}
	m.gen++
	if m.ownInit {
		m.ctx.Finalize()
	}
	err := m.ctx.Initialize()
	if err != nil && !isRV(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		m.ownInit = false
		return fmt.Errorf("%w: re-initializing PKCS#11 library: %w", ErrUnavailable, err)
	}
	m.ownInit = err == nil
	return nil
}

func (m *p11Module) release() {
	p11Modules.mu.Lock()
	defer p11Modules.mu.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(p11Modules.m, m.path)
	if m.ownInit {
		m.ctx.Finalize()
	}
	m.ctx.Destroy()
}

// errTokenAbsent marks "no matching token in any slot".
var errTokenAbsent = errors.New("pkcs11 token not present")

// needsReset reports errors only a library re-initialization can clear.
func needsReset(err error) bool {
	return errors.Is(err, errTokenAbsent) || isRV(err, p11.CKR_CRYPTOKI_NOT_INITIALIZED) ||
		isRV(err, p11.CKR_TOKEN_NOT_PRESENT) || isRV(err, p11.CKR_DEVICE_REMOVED)
}

// sessionGone reports errors after which the session handle no longer
// exists; such handles are forgotten, never closed, since the library may
// already have given the same number to a new session.
func sessionGone(err error) bool {
	return needsReset(err) || isRV(err, p11.CKR_SESSION_HANDLE_INVALID) || isRV(err, p11.CKR_SESSION_CLOSED) ||
		isRV(err, p11.CKR_DEVICE_ERROR)
}

func isRV(err error, rv uint) bool {
	var e p11.Error
	return errors.As(err, &e) && uint(e) == rv
}

// sessionBroken reports errors after which a session (and likely every
// session) is gone: token reset or removed, library re-initialized.
func sessionBroken(err error) bool {
	for _, rv := range []uint{
		p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED, p11.CKR_DEVICE_REMOVED,
		p11.CKR_DEVICE_ERROR, p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_USER_NOT_LOGGED_IN,
		p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID,
		p11.CKR_CRYPTOKI_NOT_INITIALIZED, p11.CKR_TOKEN_NOT_RECOGNIZED,
	} {
		if isRV(err, rv) {
			return true
		}
	}
	return false
}

// classifyP11 maps a PKCS#11 error; its text is the CKR_ name only.
func classifyP11(op string, err error) error {
	var e p11.Error
	if ours(err) || !errors.As(err, &e) {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch {
	case sessionBroken(err), isRV(err, p11.CKR_DEVICE_MEMORY), isRV(err, p11.CKR_PIN_INCORRECT),
		isRV(err, p11.CKR_PIN_LOCKED), isRV(err, p11.CKR_PIN_EXPIRED), isRV(err, p11.CKR_SESSION_COUNT):
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrBackend, err)
}

// ours reports whether err already carries one of the package's sentinels.
func ours(err error) bool {
	for _, s := range []error{ErrUnavailable, ErrAuthFailed, ErrBackend, ErrKeyNotFound, ErrClosed, ErrMalformed, ErrConfig} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
