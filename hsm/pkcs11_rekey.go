//go:build cgo

package hsm

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	p11 "github.com/miekg/pkcs11"
)

// PKCS#11 re-keying (Rekeyer). The node's keys form a family by label: the
// key labelled KeyLabel is epoch 1 and "KeyLabel#n" is epoch n (a '#' never
// appears in a configured label). The newest is current: Seal uses it,
// Unseal tries each live key, newest first. Rotate generates the next
// epoch's key on the token (same template as InitPKCS11), Retire destroys
// every older key object, so a blob sealed under one no longer opens on
// any machine. Rewrap decrypts and re-encrypts on the token; the plaintext
// passes through this process, as with Unseal.

// p11Key is one key of the family.
type p11Key struct {
	epoch int
	h     p11.ObjectHandle
}

// epochOfLabel returns the epoch a label names in base's family, or 0.
func epochOfLabel(label, base string) int {
	if label == base {
		return 1
	}
	rest, ok := strings.CutPrefix(label, base+"#")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 2 || strconv.Itoa(n) != rest {
		return 0
	}
	return n
}

func epochLabel(base string, epoch int) string {
	if epoch == 1 {
		return base
	}
	return base + "#" + strconv.Itoa(epoch)
}

// findKeys returns base's key family, newest first, each checked like
// findKey. No key gives ErrKeyNotFound.
func findKeys(ctx *p11.Ctx, h p11.SessionHandle, base string) ([]p11Key, error) {
	template := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
	}
	if err := ctx.FindObjectsInit(h, template); err != nil {
		return nil, classifyP11("finding keys", err)
	}
	objs, _, err := ctx.FindObjects(h, 1024)
	if ferr := ctx.FindObjectsFinal(h); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		return nil, classifyP11("finding keys", err)
	}
	var keys []p11Key
	seen := map[int]bool{}
	for _, o := range objs {
		attrs, err := ctx.GetAttributeValue(h, o, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, nil)})
		if err != nil {
			return nil, classifyP11("reading key label", err)
		}
		e := epochOfLabel(string(attrs[0].Value), base)
		if e == 0 {
			continue
		}
		if seen[e] {
			return nil, fmt.Errorf("%w: more than one AES key labelled %q", ErrBackend, epochLabel(base, e))
		}
		seen[e] = true
		if err := checkKey(ctx, h, o, epochLabel(base, e)); err != nil {
			return nil, err
		}
		keys = append(keys, p11Key{epoch: e, h: o})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no AES key labelled %q on the token; run `triad hsm init`", ErrKeyNotFound, base)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].epoch > keys[j].epoch })
	return keys, nil
}

// rwSession runs fn on a fresh read-write, logged-in session (creating and
// destroying token objects needs one), one at a time per process.
func (s *PKCS11) rwSession(ctx context.Context, op string, fn func(h p11.SessionHandle) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hsm: %s: %w", op, err)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	s.mod.initMu.Lock()
	defer s.mod.initMu.Unlock()
	s.mod.rw.RLock()
	defer s.mod.rw.RUnlock()
	slot, err := findSlot(s.mod.ctx, s.cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	h, err := s.mod.ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return classifyP11(op+": opening session", err)
	}
	defer s.mod.ctx.CloseSession(h)
	if err := login(s.mod.ctx, h, s.pin); err != nil {
		return classifyP11(op+": login", err)
	}
	if err := fn(h); err != nil {
		return classifyP11(op, err)
	}
	return nil
}

// keysChanged makes pooled sessions find the key family again.
func (s *PKCS11) keysChanged() {
	s.mu.Lock()
	s.keyGen++
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	s.mod.rw.RLock()
	defer s.mod.rw.RUnlock()
	for _, ses := range idle {
		if ses.gen == s.mod.gen {
			s.mod.ctx.CloseSession(ses.h)
		}
	}
}

// Rotate implements Rekeyer: the next epoch's key is generated on the token.
func (s *PKCS11) Rotate(ctx context.Context) error {
	var label string
	err := s.rwSession(ctx, "rotating pkcs11 key", func(h p11.SessionHandle) error {
		keys, err := findKeys(s.mod.ctx, h, s.cfg.KeyLabel)
		if err != nil {
			return err
		}
		label = epochLabel(s.cfg.KeyLabel, keys[0].epoch+1)
		return generateKey(s.mod.ctx, h, label)
	})
	if err != nil {
		return err
	}
	s.keysChanged()
	s.log.Info("hsm: generated a new pkcs11 key", "backend", BackendPKCS11, "key", label)
	return nil
}

// Retire implements Rekeyer: every key object but the newest is destroyed.
func (s *PKCS11) Retire(ctx context.Context) error {
	n := 0
	err := s.rwSession(ctx, "retiring old pkcs11 keys", func(h p11.SessionHandle) error {
		keys, err := findKeys(s.mod.ctx, h, s.cfg.KeyLabel)
		if err != nil {
			return err
		}
		for _, k := range keys[1:] {
			if err := s.mod.ctx.DestroyObject(h, k.h); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n > 0 {
		s.keysChanged()
		s.log.Info("hsm: destroyed old pkcs11 keys", "backend", BackendPKCS11, "key", s.cfg.KeyLabel, "destroyed", n)
	}
	return nil
}

// KeyEpoch implements Rekeyer: the newest key's epoch.
func (s *PKCS11) KeyEpoch(ctx context.Context) (int, error) {
	var e int
	err := s.with(ctx, "reading the key epoch", func(ses *p11Session) error {
		keys, err := findKeys(s.mod.ctx, ses.h, s.cfg.KeyLabel)
		if err != nil {
			return err
		}
		e = keys[0].epoch
		return nil
	})
	return e, err
}

// Rewrap implements Rewrapper: unseal, then seal under the current key.
func (s *PKCS11) Rewrap(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	pt, err := s.Unseal(ctx, sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("rewrapping: %w", err)
	}
	defer zero(pt)
	return s.Seal(ctx, pt, aad)
}
