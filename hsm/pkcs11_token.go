//go:build cgo

package hsm

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	p11 "github.com/miekg/pkcs11"
)

// InitPKCS11 makes sure the token holds this node's AES-256 key, generating
// it if absent (CKA_TOKEN, CKA_SENSITIVE, not CKA_EXTRACTABLE, encrypt and
// decrypt only). It is idempotent; created reports whether a key was made.
func InitPKCS11(ctx context.Context, cfg PKCS11Config) (created bool, err error) {
	if err := cfg.Validate(); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("hsm: initializing pkcs11 key: %w", err)
	}
	pin, err := readSecret("hsm.pkcs11.pin", cfg.PINEnv, cfg.PINFile)
	if err != nil {
		return false, err
	}
	defer zero(pin)
	mod, err := openP11Module(cfg.Module)
	if err != nil {
		return false, fmt.Errorf("initializing pkcs11 key: %w", err)
	}
	defer mod.release()
	mod.initMu.Lock() // one generator per process, so a label is never doubled
	defer mod.initMu.Unlock()
	mod.rw.RLock()
	defer mod.rw.RUnlock()

	slot, err := findSlot(mod.ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("initializing pkcs11 key: %w", err)
	}
	h, err := mod.ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return false, classifyP11("initializing pkcs11 key: opening session", err)
	}
	defer mod.ctx.CloseSession(h)
	if err := login(mod.ctx, h, pin); err != nil {
		return false, classifyP11("initializing pkcs11 key: login", err)
	}
	if _, err := findKeys(mod.ctx, h, cfg.KeyLabel); err == nil {
		return false, nil
	} else if !isKeyNotFound(err) {
		return false, fmt.Errorf("initializing pkcs11 key: %w", err)
	}
	if err := generateKey(mod.ctx, h, cfg.KeyLabel); err != nil {
		return false, fmt.Errorf("initializing pkcs11 key: %w", err)
	}
	return true, nil
}

// generateKey makes an AES-256 token key labelled label: sensitive, never
// extractable, encrypt and decrypt only.
func generateKey(ctx *p11.Ctx, h p11.SessionHandle, label string) error {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("hsm: generating key id: %w", err)
	}
	template := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
		p11.NewAttribute(p11.CKA_LABEL, label),
		p11.NewAttribute(p11.CKA_ID, id),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_ENCRYPT, true),
		p11.NewAttribute(p11.CKA_DECRYPT, true),
		p11.NewAttribute(p11.CKA_WRAP, false),
		p11.NewAttribute(p11.CKA_UNWRAP, false),
		p11.NewAttribute(p11.CKA_SIGN, false),
		p11.NewAttribute(p11.CKA_VERIFY, false),
		p11.NewAttribute(p11.CKA_DERIVE, false),
	}
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}
	if _, err := ctx.GenerateKey(h, mech, template); err != nil {
		return classifyP11("generating AES-256 key", err)
	}
	return nil
}

func login(ctx *p11.Ctx, h p11.SessionHandle, pin []byte) error {
	err := ctx.Login(h, p11.CKU_USER, string(pin))
	if err != nil && !isRV(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		return err
	}
	return nil
}

func findSlot(ctx *p11.Ctx, cfg PKCS11Config) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, classifyP11("listing slots", err)
	}
	for _, slot := range slots {
		if cfg.Slot != nil && slot != *cfg.Slot {
			continue
		}
		if cfg.TokenLabel != "" {
			ti, err := ctx.GetTokenInfo(slot)
			if err != nil || strings.TrimRight(ti.Label, " \x00") != cfg.TokenLabel {
				continue
			}
		}
		return slot, nil
	}
	return 0, fmt.Errorf("%w: %w: no token labelled %q (slot %v)", ErrUnavailable, errTokenAbsent, cfg.TokenLabel, slotString(cfg.Slot))
}

func slotString(s *uint) string {
	if s == nil {
		return "any"
	}
	return fmt.Sprint(*s)
}

// checkKey refuses a key that could leave the token or is not AES-256.
func checkKey(ctx *p11.Ctx, h p11.SessionHandle, obj p11.ObjectHandle, label string) error {
	attrs, err := ctx.GetAttributeValue(h, obj, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
		p11.NewAttribute(p11.CKA_VALUE_LEN, nil),
	})
	if err != nil {
		return classifyP11("reading key attributes", err)
	}
	sensitive, extractable := attrBool(attrs[0]), attrBool(attrs[1])
	if !sensitive || extractable {
		return fmt.Errorf("%w: key %q is extractable or not sensitive; refusing to use it", ErrBackend, label)
	}
	if n := attrUint(attrs[2]); n != 32 {
		return fmt.Errorf("%w: key %q is %d bytes, want 32 (AES-256)", ErrBackend, label, n)
	}
	return nil
}

func attrBool(a *p11.Attribute) bool { return len(a.Value) == 1 && a.Value[0] != 0 }

func attrUint(a *p11.Attribute) uint {
	var n uint
	for i := len(a.Value) - 1; i >= 0; i-- { // CK_ULONG in host (little-endian) order
		n = n<<8 | uint(a.Value[i])
	}
	return n
}
