package holdings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/triad-custody/triad/hsm"
)

// kept is the latest signed snapshot as Attester.File holds it: the
// attestation and the leaves its tree is built from.
type kept struct {
	Attestation Attestation `json:"attestation"`
	Leaves      []Leaf      `json:"leaves"`
}

// keep writes the latest signed snapshot to File (atomically), if set.
func (a *Attester) keep(tree *Tree, att Attestation) error {
	if a.File == "" {
		return nil
	}
	b, err := json.Marshal(kept{Attestation: att, Leaves: tree.leaves})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := hsm.WriteFileAtomic(a.File, b, 0o600); err != nil {
		return fmt.Errorf("keeping the signed snapshot: %w", err)
	}
	return nil
}

// Restore loads the snapshot File kept, after a restart: it rebuilds the
// tree, and keeps it as the latest only if its root and size are the
// attestation's and the signature is the attestation key's. No file is no
// error.
func (a *Attester) Restore(ctx context.Context) error {
	if a.File == "" {
		return nil
	}
	b, err := os.ReadFile(a.File)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("restoring the signed snapshot: %w", err)
	}
	var k kept
	if err := json.Unmarshal(b, &k); err != nil {
		return fmt.Errorf("restoring the signed snapshot: %w: %v", ErrMalformed, err)
	}
	tree, err := Build(k.Leaves)
	if err != nil {
		return fmt.Errorf("restoring the signed snapshot: %w", err)
	}
	pub, err := a.GroupKey(ctx)
	if err != nil {
		return err
	}
	s := k.Attestation.Snapshot
	if s.Root != HexHash(tree.Root()) || s.Leaves != uint64(tree.Size()) || k.Attestation.KeyID != a.KeyID {
		return fmt.Errorf("restoring the signed snapshot: %w: its leaves are not the signed tree", ErrProof)
	}
	if err := k.Attestation.Verify(pub); err != nil {
		return fmt.Errorf("restoring the signed snapshot: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.latest == nil || a.latest.Snapshot.Time.Before(s.Time) {
		a.tree, a.latest = tree, &k.Attestation
	}
	return nil
}

// NextSnapshot is the first multiple of every (counted from the Unix
// epoch, UTC) after now: with every = 12h, the next 00:00 or 12:00 UTC.
func NextSnapshot(now time.Time, every time.Duration) time.Time {
	return now.UTC().Truncate(every).Add(every)
}

// Run takes a snapshot at every multiple of every (NextSnapshot) until ctx
// ends; a failed one is logged and retried after retry (Schedule). after
// is time.After when nil (tests pass their own).
func (a *Attester) Run(ctx context.Context, every, retry time.Duration, log *slog.Logger, after func(time.Duration) <-chan time.Time) {
	now := func() time.Time {
		if a.Now != nil {
			return a.Now()
		}
		return time.Now()
	}
	var last time.Time
	a.mu.Lock()
	if a.latest != nil {
		last = a.latest.Snapshot.Time
	}
	a.mu.Unlock()
	Schedule(ctx, every, retry, now, after, last, func(ctx context.Context) error {
		att, err := a.Attest(ctx)
		if err != nil {
			log.Warn("holdings snapshot not signed", "err", err)
			return err
		}
		log.Info("holdings snapshot signed", "root", att.Snapshot.Root.String(), "leaves", att.Snapshot.Leaves)
		return nil
	})
}

// Schedule runs fn at every multiple of every (NextSnapshot, by now) until
// ctx ends. A failed run is retried after retry (0: a minute), but never
// past the next scheduled time. A run missed while the node was down (last,
// the time of the last one, is before the latest scheduled time) is caught
// up retry after the start, once peers have had time to connect; a zero
// last (never run) is not. after is time.After when nil.
func Schedule(ctx context.Context, every, retry time.Duration, now func() time.Time, after func(time.Duration) <-chan time.Time, last time.Time, fn func(context.Context) error) {
	if after == nil {
		after = time.After
	}
	if retry <= 0 {
		retry = time.Minute
	}
	next := NextSnapshot(now(), every)
	if !last.IsZero() && last.Before(next.Add(-every)) {
		next = now().Add(retry)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-after(next.Sub(now())):
		}
		if now().Before(next) {
			continue // woke early (a clock that moved back)
		}
		next = NextSnapshot(now(), every)
		if err := fn(ctx); err != nil {
			if n := now().Add(retry); n.Before(next) {
				next = n
			}
		}
	}
}
