package hsmtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/triad-custody/triad/hsm"
)

// Run runs the conformance suite against the sealers newSealer returns.
func Run(t *testing.T, newSealer func(t *testing.T) hsm.Sealer) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(*testing.T, func(*testing.T) hsm.Sealer)
	}{
		{"Roundtrip", testRoundtrip},
		{"EmptyPlaintext", testEmpty},
		{"LargePlaintext", testLarge},
		{"TooLarge", testTooLarge},
		{"Nondeterministic", testNondeterministic},
		{"WrongAAD", testWrongAAD},
		{"Tampered", testTampered},
		{"TruncatedAndGarbage", testGarbage},
		{"OtherBackendRefused", testOtherBackend},
		{"NoPlaintextInBlob", testNoPlaintext},
		{"Concurrent", testConcurrent},
		{"HealthAndBackend", testHealth},
		{"CanceledContext", testCanceled},
		{"Rekey", testRekey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newSealer) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func aadFor(node string, version uint32) []byte {
	return hsm.AAD{Node: node, Party: "party-1", KeyID: "group-key/shard", Version: version}.Encode()
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustSeal(t *testing.T, s hsm.Sealer, pt, aad []byte) []byte {
	t.Helper()
	sealed, err := s.Seal(ctxT(t), pt, aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return sealed
}

func testRoundtrip(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	for _, n := range []int{1, 31, 32, 33, 4096} {
		pt := random(t, n)
		aad := aadFor("node-a", uint32(n))
		sealed := mustSeal(t, s, pt, aad)
		got, err := s.Unseal(ctxT(t), sealed, aad)
		if err != nil {
			t.Fatalf("Unseal of %d bytes: %v", n, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("roundtrip of %d bytes returned different bytes", n)
		}
	}
	// nil AAD is allowed and equals empty AAD.
	sealed := mustSeal(t, s, []byte("x"), nil)
	if got, err := s.Unseal(ctxT(t), sealed, []byte{}); err != nil || string(got) != "x" {
		t.Fatalf("nil/empty AAD roundtrip: %v", err)
	}
	// A second sealer on the same key opens the first one's blobs.
	s2 := newSealer(t)
	pt := random(t, 64)
	got, err := s2.Unseal(ctxT(t), mustSeal(t, s, pt, aadFor("node-a", 1)), aadFor("node-a", 1))
	if err == nil && !bytes.Equal(got, pt) {
		t.Fatal("second sealer returned different bytes")
	}
	if err != nil && !errors.Is(err, hsm.ErrAuthFailed) {
		// Backends with a per-instance key (memory) fail authentication.
		t.Fatalf("second sealer: %v", err)
	}
}

func testEmpty(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	for _, pt := range [][]byte{nil, {}} {
		sealed := mustSeal(t, s, pt, aadFor("node-a", 1))
		got, err := s.Unseal(ctxT(t), sealed, aadFor("node-a", 1))
		if err != nil {
			t.Fatalf("Unseal of empty plaintext: %v", err)
		}
		if got == nil || len(got) != 0 {
			t.Fatalf("empty plaintext came back as %d bytes (nil=%v)", len(got), got == nil)
		}
	}
}

func testLarge(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	pt := random(t, 1<<20)
	sealed := mustSeal(t, s, pt, aadFor("node-a", 1))
	got, err := s.Unseal(ctxT(t), sealed, aadFor("node-a", 1))
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("1 MiB roundtrip failed: %v", err)
	}
}

func testTooLarge(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	_, err := s.Seal(ctxT(t), make([]byte, hsm.MaxPlaintext+1), nil)
	if !errors.Is(err, hsm.ErrTooLarge) {
		t.Fatalf("Seal of MaxPlaintext+1 bytes: got %v, want ErrTooLarge", err)
	}
}

func testNondeterministic(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	pt := []byte("same plaintext, same aad")
	a, b := mustSeal(t, s, pt, aadFor("n", 1)), mustSeal(t, s, pt, aadFor("n", 1))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical (nonce reuse?)")
	}
}

func testWrongAAD(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	base := hsm.AAD{Node: "node-a", Party: "1", KeyID: "k", Version: 7}
	pt := []byte("shard bytes for node a")
	sealed := mustSeal(t, s, pt, base.Encode())
	others := map[string]hsm.AAD{
		"node":    {Node: "node-b", Party: "1", KeyID: "k", Version: 7},
		"party":   {Node: "node-a", Party: "2", KeyID: "k", Version: 7},
		"keyID":   {Node: "node-a", Party: "1", KeyID: "k2", Version: 7},
		"version": {Node: "node-a", Party: "1", KeyID: "k", Version: 6},
		"shifted": {Node: "node-a1", Party: "", KeyID: "k", Version: 7},
	}
	for name, other := range others {
		got, err := s.Unseal(ctxT(t), sealed, other.Encode())
		if !errors.Is(err, hsm.ErrAuthFailed) {
			t.Errorf("unseal with %s changed: got %v, want ErrAuthFailed", name, err)
		}
		if got != nil {
			t.Errorf("unseal with %s changed returned bytes", name)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), pt) {
			t.Errorf("error message contains the plaintext")
		}
	}
	if _, err := s.Unseal(ctxT(t), sealed, nil); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Errorf("unseal with no AAD: got %v, want ErrAuthFailed", err)
	}
}

// tamperOK lists what tampering may be reported as.
func tamperOK(err error) bool {
	for _, e := range []error{hsm.ErrAuthFailed, hsm.ErrMalformed, hsm.ErrWrongBackend, hsm.ErrUnsupportedFormat} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func testTampered(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	aad := aadFor("node-a", 1)
	sealed := mustSeal(t, s, []byte("a shard that must not be altered"), aad)
	step := 1
	if len(sealed) > 256 {
		step = len(sealed) / 128
	}
	for i := 0; i < len(sealed); i += step {
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(sealed)
			bad[i] ^= mask
			got, err := s.Unseal(ctxT(t), bad, aad)
			if err == nil || got != nil {
				t.Fatalf("byte %d ^ %#x: unsealed without error", i, mask)
			}
			if !tamperOK(err) {
				t.Fatalf("byte %d ^ %#x: got %v, want an authentication or format error", i, mask, err)
			}
		}
	}
	if _, err := s.Unseal(ctxT(t), append(bytes.Clone(sealed), 0), aad); !tamperOK(err) {
		t.Fatalf("appended byte: got %v", err)
	}
}

func testGarbage(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	aad := aadFor("node-a", 1)
	sealed := mustSeal(t, s, random(t, 48), aad)
	for n := 0; n < len(sealed); n++ {
		if _, err := s.Unseal(ctxT(t), sealed[:n], aad); !tamperOK(err) {
			t.Fatalf("truncated to %d of %d bytes: got %v", n, len(sealed), err)
		}
	}
	inputs := [][]byte{nil, {}, []byte("TRSB"), []byte("TRSB\x01"), random(t, 7), random(t, 100), random(t, 4096),
		append(bytes.Clone(sealed[:6]), random(t, 64)...), append(bytes.Clone(sealed[:6]), bytes.Repeat([]byte{0xff}, 40)...),
		make([]byte, 3*hsm.MaxPlaintext)}
	for i, in := range inputs {
		if got, err := s.Unseal(ctxT(t), in, aad); err == nil || got != nil || !tamperOK(err) {
			t.Fatalf("garbage input %d (%d bytes): got %v", i, len(in), err)
		}
	}
}

func testOtherBackend(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	var foreign hsm.Sealer = hsm.NewMemory()
	if s.Backend() == hsm.BackendMemory {
		l, err := hsm.NewLocal([]byte("conformance-passphrase"), hsm.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		foreign = l
	}
	aad := aadFor("node-a", 1)
	sealed := mustSeal(t, foreign, []byte("from elsewhere"), aad)
	if _, err := s.Unseal(ctxT(t), sealed, aad); !errors.Is(err, hsm.ErrWrongBackend) {
		t.Fatalf("%s blob given to %s: got %v, want ErrWrongBackend", foreign.Backend(), s.Backend(), err)
	}
	own := mustSeal(t, s, []byte("mine"), aad)
	if _, err := foreign.Unseal(ctxT(t), own, aad); !errors.Is(err, hsm.ErrWrongBackend) {
		t.Fatalf("%s blob given to %s: got %v, want ErrWrongBackend", s.Backend(), foreign.Backend(), err)
	}
}

func testNoPlaintext(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	pt := []byte(fmt.Sprintf("SECRET-SHARD-%s-END", hex.EncodeToString(random(t, 24))))
	sealed := mustSeal(t, s, pt, aadFor("node-a", 1))
	for _, form := range [][]byte{pt, []byte(base64.StdEncoding.EncodeToString(pt)), []byte(hex.EncodeToString(pt))} {
		for i := 0; i+12 <= len(form); i++ {
			if bytes.Contains(sealed, form[i:i+12]) {
				t.Fatalf("sealed blob contains 12 bytes of the plaintext (or its encoding) at %d", i)
			}
		}
	}
}

func testConcurrent(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	const workers, rounds = 8, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := ctxT(t)
			for r := range rounds {
				pt := []byte(fmt.Sprintf("worker %d round %d", w, r))
				aad := aadFor(fmt.Sprintf("node-%d", w), uint32(r))
				sealed, err := s.Seal(ctx, pt, aad)
				if err != nil {
					errs <- fmt.Errorf("worker %d: Seal: %w", w, err)
					return
				}
				got, err := s.Unseal(ctx, sealed, aad)
				if err != nil || !bytes.Equal(got, pt) {
					errs <- fmt.Errorf("worker %d: Unseal: %v", w, err)
					return
				}
				if _, err := s.Unseal(ctx, sealed, aadFor("other", uint32(r))); !errors.Is(err, hsm.ErrAuthFailed) {
					errs <- fmt.Errorf("worker %d: wrong AAD: %v", w, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := s.Health(ctxT(t)); err != nil {
		t.Fatalf("Health after concurrent use: %v", err)
	}
}

func testHealth(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	if err := s.Health(ctxT(t)); err != nil {
		t.Fatalf("Health: %v", err)
	}
	info, err := hsm.Inspect(mustSeal(t, s, []byte("x"), nil))
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if info.Backend != s.Backend() || info.Format != 1 {
		t.Fatalf("Inspect = %+v, Backend() = %q", info, s.Backend())
	}
}

func testCanceled(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	sealed := mustSeal(t, s, []byte("x"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Seal(ctx, []byte("x"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Seal with canceled context: got %v, want context.Canceled", err)
	}
	if got, err := s.Unseal(ctx, sealed, nil); !errors.Is(err, context.Canceled) || got != nil {
		t.Errorf("Unseal with canceled context: got %v, want context.Canceled", err)
	}
}

// testRekey: a reshare re-keys the sealer (../shared/SECURITY.md scenarios 16, 32).
// Between Rotate and Retire every blob opens (a crash there leaves a
// working node); after Retire a blob sealed before the re-key does not,
// while its rewrapped copy and blobs sealed since do.
func testRekey(t *testing.T, newSealer func(*testing.T) hsm.Sealer) {
	s := newSealer(t)
	r, ok := s.(hsm.Rekeyer)
	if !ok {
		t.Fatalf("the %s backend does not implement hsm.Rekeyer: its sealing key would outlive a reshare (../shared/SECURITY.md scenario 32)", s.Backend())
	}
	ctx := ctxT(t)
	aad := aadFor("node-a", 2)
	pt := []byte("a share from before the reshare")
	old := mustSeal(t, r, pt, aad)
	e0, err := r.KeyEpoch(ctx)
	if err != nil {
		t.Fatalf("KeyEpoch: %v", err)
	}
	if err := r.Rotate(ctx); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if e1, err := r.KeyEpoch(ctx); err != nil || e1 != e0+1 {
		t.Fatalf("KeyEpoch after Rotate = %d, %v; want %d", e1, err, e0+1)
	}
	if got, err := r.Unseal(ctx, old, aad); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("a blob from before Rotate does not open before Retire: %v", err)
	}
	fresh := mustSeal(t, r, []byte("sealed after Rotate"), aad)
	rewrapped, err := r.Rewrap(ctx, old, aad)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if _, err := r.Rewrap(ctx, old, aadFor("node-b", 2)); err == nil {
		t.Fatal("Rewrap under another AAD succeeded")
	}
	if err := r.Retire(ctx); err != nil {
		t.Fatalf("Retire: %v", err)
	}
	if got, err := r.Unseal(ctx, old, aad); err == nil || got != nil {
		t.Fatal("a blob sealed before the re-key still opens after Retire")
	} else if !errors.Is(err, hsm.ErrAuthFailed) && !errors.Is(err, hsm.ErrVersionBelowMinimum) {
		t.Fatalf("a blob sealed before the re-key: got %v, want ErrAuthFailed or ErrVersionBelowMinimum", err)
	}
	if got, err := r.Unseal(ctx, rewrapped, aad); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("the rewrapped blob does not open after Retire: %v", err)
	}
	if got, err := r.Unseal(ctx, fresh, aad); err != nil || string(got) != "sealed after Rotate" {
		t.Fatalf("a blob sealed after Rotate does not open after Retire: %v", err)
	}
	if e, err := r.KeyEpoch(ctx); err != nil || e != e0+1 {
		t.Fatalf("KeyEpoch after Retire = %d, %v; want %d", e, err, e0+1)
	}
	if err := r.Retire(ctx); err != nil {
		t.Fatalf("a second Retire: %v", err)
	}
}
