//go:build cgo

package hsm_test

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/hsm/hsmtest"
	"github.com/triad-custody/triad/hsm/softhsmtest"
)

func newPKCS11(t *testing.T, cfg hsm.PKCS11Config) *hsm.PKCS11 {
	t.Helper()
	return newPKCS11Log(t, cfg, nil)
}

func newPKCS11Log(t *testing.T, cfg hsm.PKCS11Config, log *slog.Logger) *hsm.PKCS11 {
	t.Helper()
	s, err := hsm.NewPKCS11(ctxFor(t), cfg, log)
	if err != nil {
		t.Fatalf("NewPKCS11: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func initToken(t *testing.T) (*softhsmtest.Token, hsm.PKCS11Config) {
	tok := softhsmtest.NewToken(t)
	cfg := tok.Config("triad-node-a")
	if created, err := hsm.InitPKCS11(ctxFor(t), cfg); err != nil || !created {
		t.Fatalf("InitPKCS11 = %v, %v", created, err)
	}
	return tok, cfg
}

func TestPKCS11Conformance(t *testing.T) {
	_, cfg := initToken(t)
	hsmtest.Run(t, func(t *testing.T) hsm.Sealer { return newPKCS11(t, cfg) })
}

func TestPKCS11InitIdempotentAndKeyNotExtractable(t *testing.T) {
	tok, cfg := initToken(t)
	for range 2 {
		if created, err := hsm.InitPKCS11(ctxFor(t), cfg); err != nil || created {
			t.Fatalf("second InitPKCS11 = %v, %v; want false, nil", created, err)
		}
	}
	s := newPKCS11(t, cfg) // keeps the library initialised for the raw look below

	raw := p11.New(tok.Module)
	if raw == nil {
		t.Fatal("loading module")
	}
	defer raw.Destroy()
	if err := raw.Initialize(); err != nil && !errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		t.Fatal(err)
	}
	slot := slotOf(t, raw, tok.Label)
	h, err := raw.OpenSession(slot, p11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.CloseSession(h)
	if err := raw.Login(h, p11.CKU_USER, tok.PIN); err != nil && !errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)) {
		t.Fatal(err)
	}
	if err := raw.FindObjectsInit(h, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, "triad-node-a")}); err != nil {
		t.Fatal(err)
	}
	objs, _, err := raw.FindObjects(h, 10)
	raw.FindObjectsFinal(h)
	if err != nil || len(objs) != 1 {
		t.Fatalf("found %d objects labelled triad-node-a (%v); Init must not duplicate", len(objs), err)
	}
	attrs, err := raw.GetAttributeValue(h, objs[0], []*p11.Attribute{
		p11.NewAttribute(p11.CKA_EXTRACTABLE, nil), p11.NewAttribute(p11.CKA_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_TOKEN, nil), p11.NewAttribute(p11.CKA_NEVER_EXTRACTABLE, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{false, true, true, true}
	for i, a := range attrs {
		if got := len(a.Value) == 1 && a.Value[0] != 0; got != want[i] {
			t.Errorf("attribute %#x = %v, want %v", a.Type, got, want[i])
		}
	}
	// The token refuses to reveal the key value.
	if _, err := raw.GetAttributeValue(h, objs[0], []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)}); !errors.Is(err, p11.Error(p11.CKR_ATTRIBUTE_SENSITIVE)) {
		t.Errorf("reading CKA_VALUE: got %v, want CKR_ATTRIBUTE_SENSITIVE", err)
	}
	if err := s.Health(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
}

func slotOf(t *testing.T, raw *p11.Ctx, label string) uint {
	slots, err := raw.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if ti, err := raw.GetTokenInfo(s); err == nil && strings.TrimRight(ti.Label, " \x00") == label {
			return s
		}
	}
	t.Fatalf("no slot with token %q", label)
	return 0
}

func TestPKCS11MissingKeyTokenAndWrongPIN(t *testing.T) {
	tok := softhsmtest.NewToken(t)
	cfg := tok.Config("never-initialised")
	if _, err := hsm.NewPKCS11(ctxFor(t), cfg, nil); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("missing key: got %v, want ErrKeyNotFound", err)
	}
	cfg.TokenLabel = "no-such-token"
	if _, err := hsm.NewPKCS11(ctxFor(t), cfg, nil); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("missing token: got %v, want ErrUnavailable", err)
	}
	cfg = tok.Config("k")
	t.Setenv("TRIAD_TEST_WRONG_PIN", "000000")
	cfg.PINFile, cfg.PINEnv = "", "TRIAD_TEST_WRONG_PIN"
	_, err := hsm.InitPKCS11(ctxFor(t), cfg)
	if !errors.Is(err, hsm.ErrUnavailable) || strings.Contains(err.Error(), "000000") {
		t.Fatalf("wrong PIN: got %v, want ErrUnavailable without the PIN", err)
	}
	cfg.Module = "/nonexistent/libnothing.so"
	if _, err := hsm.NewPKCS11(ctxFor(t), cfg, nil); !errors.Is(err, hsm.ErrConfig) || !strings.Contains(err.Error(), "hsm.pkcs11.module") {
		t.Fatalf("missing module: %v", err)
	}
}

// The token drops every session (as on an HSM reset): the same sealer opens
// new sessions, logs in again and carries on; blobs sealed before still open.
func TestPKCS11RecoversAfterSessionsDropped(t *testing.T) {
	tok, cfg := initToken(t)
	var logs logBuffer
	s := newPKCS11Log(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := ctxFor(t)
	aad := hsm.AAD{Node: "node-a", KeyID: "k"}.Encode()
	sealed, err := s.Seal(ctx, []byte("shard"), aad)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // warm the session pool
		if _, err := s.Unseal(ctx, sealed, aad); err != nil {
			t.Fatal(err)
		}
	}

	raw := p11.New(tok.Module)
	defer raw.Destroy()
	raw.Initialize() // already initialised by the sealer; we do not finalise it
	if err := raw.CloseAllSessions(slotOf(t, raw, tok.Label)); err != nil {
		t.Fatal(err)
	}

	if err := s.Health(ctx); err != nil {
		t.Fatalf("Health after sessions dropped: %v", err)
	}
	got, err := s.Unseal(ctx, sealed, aad)
	if err != nil || string(got) != "shard" {
		t.Fatalf("Unseal after sessions dropped: %v", err)
	}
	if !strings.Contains(logs.String(), "session lost") {
		t.Fatal("the dropped sessions were not noticed (no reopen logged)")
	}
	if strings.Contains(logs.String(), tok.PIN) {
		t.Fatal("log contains the PIN")
	}
}

// The token disappears (HSM unreachable): Health, Seal and Unseal fail with
// ErrUnavailable and nothing is sealed in the clear; when the token is back,
// the same sealer works again.
func TestPKCS11TokenGoneFailsClosedThenRecovers(t *testing.T) {
	tok, cfg := initToken(t)
	s := newPKCS11(t, cfg)
	ctx := ctxFor(t)
	aad := hsm.AAD{Node: "node-a", KeyID: "k"}.Encode()
	sealed, err := s.Seal(ctx, []byte("shard"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tok.Dir, tok.Dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(ctx); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Health with token gone: %v", err)
	}
	if out, err := s.Seal(ctx, []byte("shard"), aad); !errors.Is(err, hsm.ErrUnavailable) || out != nil {
		t.Fatalf("Seal with token gone: %v", err)
	}
	if out, err := s.Unseal(ctx, sealed, aad); !errors.Is(err, hsm.ErrUnavailable) || out != nil || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("Unseal with token gone: %v", err)
	}
	if err := os.Rename(tok.Dir+".away", tok.Dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(ctx); err != nil {
		t.Fatalf("Health with token back: %v", err)
	}
	if got, err := s.Unseal(ctx, sealed, aad); err != nil || string(got) != "shard" {
		t.Fatalf("Unseal with token back: %v", err)
	}
}

// Close while calls are in flight and others wait for the single session:
// every call returns (done or ErrClosed), none hangs, and later calls fail.
func TestPKCS11CloseUnderLoad(t *testing.T) {
	_, cfg := initToken(t)
	cfg.Sessions = 1
	s, err := hsm.NewPKCS11(ctxFor(t), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	errs := make(chan error, 16)
	for range cap(errs) {
		go func() {
			_, err := s.Seal(ctx, []byte("x"), nil)
			errs <- err
		}()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range cap(errs) {
		if err := <-errs; err != nil && !errors.Is(err, hsm.ErrClosed) {
			t.Fatalf("call racing Close: %v", err)
		}
	}
	if _, err := s.Seal(ctx, []byte("x"), nil); !errors.Is(err, hsm.ErrClosed) {
		t.Fatalf("Seal after Close: %v", err)
	}
}

// TestPKCS11RekeyDestroysOldKeyObject (../shared/SECURITY.md scenario 32): a re-key
// generates a new key object ("triad-node-a#2") and Retire destroys the old
// one on the token, so a blob sealed before it opens nowhere — not through
// a sealer opened afterwards either. InitPKCS11 then finds the new key and
// creates none.
func TestPKCS11RekeyDestroysOldKeyObject(t *testing.T) {
	tok, cfg := initToken(t)
	ctx := ctxFor(t)
	s := newPKCS11(t, cfg)
	aad := hsm.AAD{Node: "node-a", KeyID: "k/share", Version: 1}.Encode()
	old, err := s.Seal(ctx, []byte("share"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh, err := s.Rewrap(ctx, old, aad)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Retire(ctx); err != nil {
		t.Fatal(err)
	}
	if created, err := hsm.InitPKCS11(ctx, cfg); err != nil || created {
		t.Fatalf("InitPKCS11 after a re-key = %v, %v; want false, nil", created, err)
	}
	later := newPKCS11(t, cfg)
	if e, err := later.KeyEpoch(ctx); err != nil || e != 2 {
		t.Fatalf("KeyEpoch of a sealer opened after the re-key = %d, %v", e, err)
	}
	if got, err := later.Unseal(ctx, fresh, aad); err != nil || string(got) != "share" {
		t.Fatalf("rewrapped blob: %v", err)
	}
	if _, err := later.Unseal(ctx, old, aad); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("blob sealed before the re-key: got %v, want ErrAuthFailed", err)
	}

	raw := p11.New(tok.Module)
	if raw == nil {
		t.Fatal("loading module")
	}
	defer raw.Destroy()
	if err := raw.Initialize(); err != nil && !errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		t.Fatal(err)
	}
	h, err := raw.OpenSession(slotOf(t, raw, tok.Label), p11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.CloseSession(h)
	if err := raw.Login(h, p11.CKU_USER, tok.PIN); err != nil && !errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)) {
		t.Fatal(err)
	}
	for label, want := range map[string]int{"triad-node-a": 0, "triad-node-a#2": 1} {
		if err := raw.FindObjectsInit(h, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, label)}); err != nil {
			t.Fatal(err)
		}
		objs, _, err := raw.FindObjects(h, 10)
		raw.FindObjectsFinal(h)
		if err != nil || len(objs) != want {
			t.Fatalf("%d objects labelled %s (%v), want %d", len(objs), label, err, want)
		}
	}
}
