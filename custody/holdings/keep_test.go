package holdings_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/holdings/holdingstest"
	"github.com/triad-custody/triad/custody/service/servicetest"
)

func TestNextSnapshot(t *testing.T) {
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for now, want := range map[time.Time]time.Time{
		day.Add(7*time.Hour + 34*time.Minute): day.Add(12 * time.Hour),
		day.Add(12 * time.Hour):               day.Add(24 * time.Hour),
		day.Add(-time.Second):                 day,
	} {
		if got := holdings.NextSnapshot(now, 12*time.Hour); !got.Equal(want) {
			t.Errorf("after %s: %s, want %s", now, got, want)
		}
	}
}

// The custodian's latest signed snapshot survives a restart (its file),
// and a kept file whose leaves were changed is refused, not served.
// Snapshots are taken at the scheduled times (twice a day by default).
func TestAttesterKeepsAndSchedules(t *testing.T) {
	c, chains := holdingstest.Cluster(t, servicetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	file := filepath.Join(t.TempDir(), "holdings.json")
	a := holdingstest.Attester(c, chains)
	a.File = file

	// Scheduled: the first snapshot waits for the next 12:00/00:00 of the
	// custodian's clock; the test's timer fires it.
	clock := c.Members[custody.Custodian].Clock
	waits, fire := make(chan time.Duration, 4), make(chan time.Time)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(runCtx, 12*time.Hour, time.Minute, slog.New(slog.DiscardHandler), func(d time.Duration) <-chan time.Time {
			waits <- d
			return fire
		})
	}()
	first := <-waits
	if want := holdings.NextSnapshot(clock.Now(), 12*time.Hour).Sub(clock.Now()); first != want {
		t.Fatalf("first wait %s, want %s", first, want)
	}
	if _, err := a.Proof("acct-1"); !errors.Is(err, holdings.ErrNoSnapshot) {
		t.Fatalf("before the scheduled time: %v", err)
	}
	for _, p := range custody.Parties {
		c.Members[p].Clock.Advance(first)
	}
	fire <- clock.Now()
	if next := <-waits; next != 12*time.Hour {
		t.Fatalf("after a snapshot the next is %s away", next)
	}
	stop()
	<-done
	p, err := a.Proof("acct-1")
	if err != nil || !p.Attestation.Snapshot.Time.Equal(clock.Now()) {
		t.Fatalf("scheduled snapshot: %+v %v", p.Attestation.Snapshot, err)
	}

	// A restarted attester serves the kept snapshot.
	b := holdingstest.Attester(c, chains)
	b.File = file
	if err := b.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	q, err := b.Proof("acct-1")
	pub, _ := b.GroupKey(ctx)
	if err != nil || q.Verify(pub) != nil || q.Attestation.Snapshot.Root != p.Attestation.Snapshot.Root {
		t.Fatalf("restored proof: %v", err)
	}
	// A kept file with one amount changed is refused.
	raw, _ := os.ReadFile(file)
	os.WriteFile(file, []byte(strings.Replace(string(raw), `"amount":"120000"`, `"amount":"120001"`, 1)), 0o600)
	d := holdingstest.Attester(c, chains)
	d.File = file
	if err := d.Restore(ctx); !errors.Is(err, holdings.ErrProof) {
		t.Fatalf("tampered file: %v", err)
	}
	if _, err := d.Proof("acct-1"); !errors.Is(err, holdings.ErrNoSnapshot) {
		t.Fatalf("a tampered file is served: %v", err)
	}
}

// A scheduled run missed while the node was down is caught up a retry
// after the start; one never run, or run since the last slot, is not.
func TestScheduleCatchesUp(t *testing.T) {
	now := time.Date(2026, 12, 1, 7, 34, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		last time.Time
		want time.Duration
	}{
		"missed 00:00": {now.Add(-13 * time.Hour), time.Minute},
		"ran after it": {now.Add(-6 * time.Hour), 4*time.Hour + 26*time.Minute},
		"never ran":    {time.Time{}, 4*time.Hour + 26*time.Minute},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		waits := make(chan time.Duration, 1)
		go holdings.Schedule(ctx, 12*time.Hour, time.Minute, func() time.Time { return now },
			func(d time.Duration) <-chan time.Time { waits <- d; return nil }, c.last, func(context.Context) error { return nil })
		if got := <-waits; got != c.want {
			t.Errorf("%s: first wait %s, want %s", name, got, c.want)
		}
		cancel()
	}
}
