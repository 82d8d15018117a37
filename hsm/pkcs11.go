//go:build cgo

package hsm

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// PKCS11 seals with CKM_AES_GCM under an AES-256 key that lives in a
// PKCS#11 token (CKA_SENSITIVE, not extractable). Each blob carries its
// random 12-byte IV; the blob header and AAD are GCM's additional data.
//
// PKCS#11 sessions are not safe for concurrent operations, so PKCS11 keeps a
// bounded pool: each call takes a session to itself. When the token drops
// sessions (reset, removal, re-initialized library) the call retries once
// on a fresh, logged-in session, and every pooled session is discarded.
//
// Payload after the common header: IV [12] | ciphertext+tag.
type PKCS11 struct {
	mod  *p11Module
	cfg  PKCS11Config
	pin  []byte
	log  *slog.Logger
	sem  chan struct{} // one slot per session in use
	done chan struct{} // closed by Close, to release waiters

	mu     sync.Mutex
	idle   []*p11Session
	closed bool
	keyGen uint64 // bumped when the key family changes (pkcs11_rekey.go)
}

type p11Session struct {
	h      p11.SessionHandle
	keys   []p11Key // the key family, newest (current) first
	gen    uint64   // module generation the session was opened in
	keyGen uint64   // PKCS11.keyGen when the keys were found
}

var _ Rekeyer = (*PKCS11)(nil)

// NewPKCS11 loads the module, logs in to the token and finds the key by
// label. It does not create the key: run InitPKCS11 (`triad hsm init`)
// first; a missing key gives ErrKeyNotFound. log may be nil.
func NewPKCS11(ctx context.Context, cfg PKCS11Config, log *slog.Logger) (*PKCS11, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	pin, err := readSecret("hsm.pkcs11.pin", cfg.PINEnv, cfg.PINFile)
	if err != nil {
		return nil, err
	}
	mod, err := openP11Module(cfg.Module)
	if err != nil {
		zero(pin)
		return nil, fmt.Errorf("opening pkcs11 sealer: %w", err)
	}
	n := cfg.Sessions
	if n == 0 {
		n = 4
	}
	s := &PKCS11{mod: mod, cfg: cfg, pin: pin, log: log, sem: make(chan struct{}, n), done: make(chan struct{})}
	if err := s.Health(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("opening pkcs11 sealer: %w", err)
	}
	return s, nil
}

// acquire takes a pool slot and returns an idle or new session. The caller
// holds mod.rw shared; gen is the module generation under that lock.
func (s *PKCS11) acquire(ctx context.Context, gen uint64) (*p11Session, error) {
	select {
	case s.sem <- struct{}{}:
	case <-s.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for a pkcs11 session: %w", ErrUnavailable, ctx.Err())
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.sem
		return nil, ErrClosed
	}
	keyGen := s.keyGen
	var stale []*p11Session
	for len(s.idle) > 0 {
		ses := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if ses.gen == gen && ses.keyGen == keyGen {
			s.mu.Unlock()
			s.closeSessions(stale)
			return ses, nil
		}
		if ses.gen == gen {
			stale = append(stale, ses) // the key family changed: find it again
		}
		// Opened before a reset: the handle is dead (and its number may be
		// reused), so it is forgotten, not closed.
	}
	s.mu.Unlock()
	s.closeSessions(stale)
	ses, err := s.open(gen, keyGen)
	if err != nil {
		<-s.sem
		return nil, err
	}
	return ses, nil
}

func (s *PKCS11) closeSessions(ss []*p11Session) {
	for _, ses := range ss {
		s.mod.ctx.CloseSession(ses.h)
	}
}

func (s *PKCS11) open(gen, keyGen uint64) (*p11Session, error) {
	slot, err := findSlot(s.mod.ctx, s.cfg)
	if err != nil {
		return nil, err
	}
	h, err := s.mod.ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, classifyP11("opening session", err)
	}
	if err := login(s.mod.ctx, h, s.pin); err != nil {
		s.mod.ctx.CloseSession(h)
		return nil, classifyP11("login", err)
	}
	keys, err := findKeys(s.mod.ctx, h, s.cfg.KeyLabel)
	if err != nil {
		s.mod.ctx.CloseSession(h)
		return nil, err
	}
	return &p11Session{h: h, keys: keys, gen: gen, keyGen: keyGen}, nil
}

// release returns ses to the pool. If err broke it, it and every idle
// session are dropped: closed if they may still exist, else forgotten.
func (s *PKCS11) release(ses *p11Session, err error) {
	s.mu.Lock()
	var drop []*p11Session
	if sessionBroken(err) || s.closed {
		drop = append(s.idle, ses)
		s.idle = nil
	} else {
		s.idle = append(s.idle, ses)
	}
	s.mu.Unlock()
	if !sessionGone(err) {
		for _, d := range drop {
			s.mod.ctx.CloseSession(d.h)
		}
	}
	<-s.sem
}

// with runs fn on a session under the module's shared lock. If the session
// broke, it retries once on a fresh one; if the token vanished or the
// library was finalized, it re-initializes the library first.
func (s *PKCS11) with(ctx context.Context, op string, fn func(*p11Session) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("hsm: %s: %w", op, err)
		}
		s.mod.rw.RLock()
		gen := s.mod.gen
		ses, err := s.acquire(ctx, gen)
		if err == nil {
			err = fn(ses)
			s.release(ses, err)
		}
		s.mod.rw.RUnlock()
		if err == nil {
			return nil
		}
		if attempt > 0 || !(sessionBroken(err) || needsReset(err)) {
			return classifyP11(op, err)
		}
		s.log.Warn("hsm: pkcs11 session lost; reopening", "backend", BackendPKCS11, "op", op, "reset", needsReset(err))
		if needsReset(err) {
			if rerr := s.mod.reset(gen); rerr != nil {
				return classifyP11(op, rerr)
			}
		}
	}
}

func gcmMechanism(iv, ad []byte) (*p11.GCMParams, []*p11.Mechanism) {
	params := p11.NewGCMParams(iv, ad, 128)
	return params, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}
}

// Seal implements Sealer.
func (s *PKCS11) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if err := checkPlaintext(plaintext); err != nil {
		return nil, fmt.Errorf("sealing: %w", err)
	}
	header := newHeader(idPKCS11)
	ad := boundData(header, aad)
	var out []byte
	err := s.with(ctx, "sealing", func(ses *p11Session) error {
		iv := make([]byte, gcmNonceLen)
		if _, err := rand.Read(iv); err != nil {
			return fmt.Errorf("hsm: reading random IV: %w", err)
		}
		params, mech := gcmMechanism(iv, ad)
		defer params.Free()
		if err := s.mod.ctx.EncryptInit(ses.h, mech, ses.keys[0].h); err != nil {
			return err
		}
		ct, err := s.mod.ctx.Encrypt(ses.h, plaintext)
		if err != nil {
			return err
		}
		if used := params.IV(); len(used) == gcmNonceLen {
			iv = used // some tokens choose the IV themselves
		}
		if len(ct) != len(plaintext)+16 {
			return fmt.Errorf("%w: token returned %d bytes for %d", ErrBackend, len(ct), len(plaintext))
		}
		out = make([]byte, 0, headerLen+gcmNonceLen+len(ct))
		out = append(append(append(out, header...), iv...), ct...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Unseal implements Sealer.
func (s *PKCS11) Unseal(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	header, payload, err := splitBlob(sealed, idPKCS11)
	if err != nil {
		return nil, fmt.Errorf("unsealing: %w", err)
	}
	if len(payload) < gcmNonceLen+16 {
		return nil, fmt.Errorf("unsealing: %w: payload of %d bytes is too short", ErrMalformed, len(payload))
	}
	ad := boundData(header, aad)
	var pt []byte
	err = s.with(ctx, "unsealing", func(ses *p11Session) error {
		// Every live key, newest first: the blob names none, and at most
		// two are live between Rotate and Retire.
		for _, k := range ses.keys {
			out, err := s.decrypt(ses, k.h, payload, ad)
			if err == nil {
				pt = out
				return nil
			}
			if sessionBroken(err) || needsReset(err) {
				return err
			}
		}
		return ErrAuthFailed // wrong key, AAD or tampered: the token cannot tell
	})
	if err != nil {
		return nil, err
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

func (s *PKCS11) decrypt(ses *p11Session, key p11.ObjectHandle, payload, ad []byte) ([]byte, error) {
	params, mech := gcmMechanism(payload[:gcmNonceLen], ad)
	defer params.Free()
	if err := s.mod.ctx.DecryptInit(ses.h, mech, key); err != nil {
		return nil, err
	}
	return s.mod.ctx.Decrypt(ses.h, payload[gcmNonceLen:])
}

// Health implements Sealer: a session can be opened and logged in, and the
// key is present, AES-256, sensitive and not extractable.
func (s *PKCS11) Health(ctx context.Context) error {
	return s.with(ctx, "health check", func(ses *p11Session) error {
		_, err := s.mod.ctx.GetAttributeValue(ses.h, ses.keys[0].h, []*p11.Attribute{p11.NewAttribute(p11.CKA_EXTRACTABLE, nil)})
		return err
	})
}

// Backend implements Sealer.
func (s *PKCS11) Backend() string { return BackendPKCS11 }

// Close waits for calls in flight, closes the sessions, zeroes the PIN and
// releases the module (finalizing it when no other sealer uses it).
func (s *PKCS11) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	for range cap(s.sem) {
		s.sem <- struct{}{}
	}
	s.mod.rw.RLock()
	s.mu.Lock()
	for _, ses := range s.idle {
		if ses.gen == s.mod.gen {
			s.mod.ctx.CloseSession(ses.h)
		}
	}
	s.idle = nil
	zero(s.pin)
	s.mu.Unlock()
	s.mod.rw.RUnlock()
	s.mod.release()
	return nil
}
