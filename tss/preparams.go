package tss

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

// PreParamsStore persists a party's pool of pre-params. Pre-params are
// secret (Paillier private key, safe primes) and per party: the node's
// store seals them (package hsm); they are never shared between parties.
type PreParamsStore interface {
	LoadPreParams(ctx context.Context) ([]byte, error) // nil, nil when none saved
	SavePreParams(ctx context.Context, blob []byte) error
}

// PoolConfig configures a Pool.
type PoolConfig struct {
	// Target is how many pre-params the pool keeps ready.
	Target int
	// Concurrency caps generations running at once (each uses a core).
	Concurrency int
	Store       PreParamsStore
	// Generate makes one set; tss-lib's generator when nil.
	Generate func(ctx context.Context) (*keygen.LocalPreParams, error)
	// Progress, when set, hears each change: ready of target, and how many
	// generations are running.
	Progress func(ready, target, running int)
}

// Pool keeps pre-params ready so that keygen and resharing never wait on
// safe-prime generation on the request path. Safe for concurrent use.
type Pool struct {
	cfg     PoolConfig
	mu      sync.Mutex
	ready   []*keygen.LocalPreParams
	running int
	changed chan struct{} // closed and replaced on every change
	lastErr error
	fillCtx context.Context // set by Fill; refills after Take use it
}

// NewPool loads what the store holds.
func NewPool(ctx context.Context, cfg PoolConfig) (*Pool, error) {
	if cfg.Target < 1 || cfg.Concurrency < 1 || cfg.Store == nil {
		return nil, fmt.Errorf("%w: pre-params pool needs target ≥ 1, concurrency ≥ 1 and a store", ErrConfig)
	}
	if cfg.Generate == nil {
		cfg.Generate = func(ctx context.Context) (*keygen.LocalPreParams, error) {
			return keygen.GeneratePreParamsWithContext(ctx, 1)
		}
	}
	p := &Pool{cfg: cfg, changed: make(chan struct{})}
	blob, err := cfg.Store.LoadPreParams(ctx)
	if err != nil {
		return nil, fmt.Errorf("tss: loading pre-params: %w", err)
	}
	if blob != nil {
		if err := json.Unmarshal(blob, &p.ready); err != nil {
			return nil, fmt.Errorf("tss: decoding stored pre-params: %w", err)
		}
		for i, pp := range p.ready {
			if pp == nil || !pp.ValidateWithProof() {
				return nil, fmt.Errorf("tss: stored pre-params %d are invalid", i)
			}
		}
	}
	return p, nil
}

// Fill generates in the background until Target are ready or ctx ends.
// It returns at once; progress is reported through PoolConfig.Progress.
func (p *Pool) Fill(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fillCtx = ctx
	p.startLocked(ctx)
}

// startLocked starts generations up to the target and the concurrency.
func (p *Pool) startLocked(ctx context.Context) {
	for len(p.ready)+p.running < p.cfg.Target && p.running < p.cfg.Concurrency {
		p.running++
		go p.generate(ctx)
	}
	p.notifyLocked()
}

func (p *Pool) generate(ctx context.Context) {
	pp, err := p.cfg.Generate(ctx)
	p.mu.Lock()
	p.running--
	if err == nil && !pp.ValidateWithProof() {
		err = errors.New("generated pre-params failed validation")
	}
	if err != nil {
		p.lastErr = fmt.Errorf("tss: generating pre-params: %w", err)
		p.notifyLocked()
		p.mu.Unlock()
		return
	}
	p.ready = append(p.ready, pp)
	saveErr := p.saveLocked(ctx)
	if saveErr != nil {
		p.lastErr = saveErr
	}
	p.notifyLocked()
	// Refill goes on unless StopRefill stopped it meanwhile (checked under
	// the same lock, so a generation ending after StopRefill starts none).
	if ctx.Err() == nil && saveErr == nil && p.fillCtx != nil {
		p.startLocked(ctx)
	}
	p.mu.Unlock()
}

func (p *Pool) saveLocked(ctx context.Context) error {
	blob, err := json.Marshal(p.ready)
	if err != nil {
		return fmt.Errorf("tss: encoding pre-params: %w", err)
	}
	if err := p.cfg.Store.SavePreParams(ctx, blob); err != nil {
		return fmt.Errorf("tss: saving pre-params: %w", err)
	}
	return nil
}

func (p *Pool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
	if p.cfg.Progress != nil {
		p.cfg.Progress(len(p.ready), p.cfg.Target, p.running)
	}
}

// Take removes one set of pre-params, waiting for the background fill
// until ctx ends. The set is removed from the store before it is returned,
// so it is never used twice.
func (p *Pool) Take(ctx context.Context) (*keygen.LocalPreParams, error) {
	for {
		p.mu.Lock()
		if n := len(p.ready); n > 0 {
			pp := p.ready[n-1]
			p.ready = p.ready[:n-1]
			if err := p.saveLocked(ctx); err != nil {
				p.ready = append(p.ready, pp)
				p.mu.Unlock()
				return nil, err
			}
			p.notifyLocked()
			fillCtx := p.fillCtx
			p.mu.Unlock()
			if fillCtx != nil && fillCtx.Err() == nil {
				p.Fill(fillCtx)
			}
			return pp, nil
		}
		if p.running == 0 && p.lastErr != nil {
			err := p.lastErr
			p.mu.Unlock()
			return nil, err
		}
		wait := p.changed
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("tss: waiting for pre-params: %w", ctx.Err())
		case <-wait:
		}
	}
}

// StopRefill keeps Take from starting new generations (generations
// already running finish). The demo uses it once its pre-params are
// cached, so that refilling does not compete with its signing.
func (p *Pool) StopRefill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fillCtx = nil
}

// Ready returns how many pre-params are ready and how many are being made.
func (p *Pool) Ready() (ready, running int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready), p.running
}
