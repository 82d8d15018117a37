package tss

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

type memPPStore struct {
	mu   sync.Mutex
	blob []byte
	fail error
}

func (m *memPPStore) LoadPreParams(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.blob, m.fail
}

func (m *memPPStore) SavePreParams(_ context.Context, b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.blob = append([]byte(nil), b...)
	return nil
}

func TestPoolFillsWithinConcurrencyAndPersists(t *testing.T) {
	fixtures := []*keygen.LocalPreParams{loadPreParams(t, 0), loadPreParams(t, 1), loadPreParams(t, 2)}
	var running, peak, made atomic.Int32
	release := make(chan struct{})
	gen := func(ctx context.Context) (*keygen.LocalPreParams, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer running.Add(-1)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return fixtures[int(made.Add(1)-1)%len(fixtures)], nil
	}
	store := &memPPStore{}
	var progressMu sync.Mutex
	var lastReady int
	pool, err := NewPool(context.Background(), PoolConfig{Target: 3, Concurrency: 2, Store: store, Generate: gen,
		Progress: func(ready, _, _ int) { progressMu.Lock(); lastReady = ready; progressMu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool.Fill(ctx)
	close(release)
	pp, err := pool.Take(ctx)
	if err != nil || !pp.ValidateWithProof() {
		t.Fatalf("take: %v", err)
	}
	// Wait until the pool is full again (Take triggers a refill).
	for {
		ready, running := pool.Ready()
		if ready == 3 && running == 0 {
			break
		}
		pool.mu.Lock()
		wait := pool.changed
		pool.mu.Unlock()
		if r, n := pool.Ready(); r == 3 && n == 0 {
			break
		}
		select {
		case <-wait:
		case <-ctx.Done():
			t.Fatal("pool did not refill")
		}
	}
	// With refill stopped, a Take does not start a generation.
	pool.StopRefill()
	if _, err := pool.Take(ctx); err != nil {
		t.Fatal(err)
	}
	if _, running := pool.Ready(); running != 0 {
		t.Fatalf("%d generations started after StopRefill", running)
	}
	if peak.Load() > 2 {
		t.Fatalf("%d generations ran at once, cap is 2", peak.Load())
	}
	progressMu.Lock()
	if lastReady != 2 {
		t.Fatalf("progress last reported %d ready, want 2 after the second Take", lastReady)
	}
	progressMu.Unlock()
	// A new pool over the same store starts full, without generating.
	again, err := NewPool(context.Background(), PoolConfig{Target: 3, Concurrency: 1, Store: store,
		Generate: func(context.Context) (*keygen.LocalPreParams, error) {
			t.Error("generated")
			return nil, errors.New("no")
		}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := again.Ready(); r != 2 {
		t.Fatalf("reloaded pool has %d", r)
	}
}

func TestPoolTakeWaitsBoundedAndReportsErrors(t *testing.T) {
	pool, err := NewPool(context.Background(), PoolConfig{Target: 1, Concurrency: 1, Store: &memPPStore{},
		Generate: func(context.Context) (*keygen.LocalPreParams, error) { return nil, errors.New("entropy gone") }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool.Fill(ctx)
	if _, err := pool.Take(ctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the generation error, got %v", err)
	}
	if _, err := NewPool(context.Background(), PoolConfig{Target: 1, Concurrency: 1, Store: &memPPStore{blob: []byte("[{}]")}}); err == nil {
		t.Fatal("invalid stored pre-params accepted")
	}
	if _, err := NewPool(context.Background(), PoolConfig{Target: 0, Concurrency: 1, Store: &memPPStore{}}); !errors.Is(err, ErrConfig) {
		t.Fatalf("target 0: %v", err)
	}
}
