package service

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/triad-custody/triad/node"
)

// gatedNet is a signing network whose custody sends wait for release,
// counting how many are in flight to each peer at once.
type gatedNet struct {
	release chan struct{}

	mu                  sync.Mutex
	inFlight, max, sent map[string]int
	changed             chan struct{} // signalled on every change
}

func (g *gatedNet) Sign(context.Context, node.SignRequest) (*node.SignResult, error) {
	return nil, fmt.Errorf("no signing here")
}
func (g *gatedNet) HandleApp(string, func(string, []byte)) {}
func (g *gatedNet) Peers() []string                        { return []string{"exchange", "regulator"} }
func (g *gatedNet) Connected(string) bool                  { return true }

func (g *gatedNet) SendApp(ctx context.Context, to, _ string, _ []byte) error {
	g.update(func() { g.inFlight[to]++; g.max[to] = max(g.max[to], g.inFlight[to]) })
	defer g.update(func() { g.inFlight[to]--; g.sent[to]++ })
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gatedNet) update(f func()) {
	g.mu.Lock()
	f()
	g.mu.Unlock()
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// waitFor waits, with one deadline, until cond holds of the counts.
func (g *gatedNet) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		g.mu.Lock()
		ok := cond()
		g.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-g.changed:
		case <-deadline.C:
			t.Fatalf("never %s (in flight %v, sent %v)", what, g.inFlight, g.sent)
		}
	}
}

// The liquidation storm (issue 9; ../shared/SECURITY.md scenario 19: bounded work
// per peer): a burst of custody messages to a peer opens at most
// sendsPerPeer streams at once; the rest wait in order in its outbox and
// all are sent. On the old code every message opened its stream at once:
// hundreds in a storm, past the receiver's transient stream limit, whose
// resets aborted signing sessions too.
func TestSendBoundsStreamsPerPeer(t *testing.T) {
	g := &gatedNet{release: make(chan struct{}), inFlight: map[string]int{}, max: map[string]int{}, sent: map[string]int{},
		changed: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Service{ctx: ctx, cancel: cancel, m: newMetrics(), log: slog.New(slog.DiscardHandler), o: Options{Network: g}}
	s.started.Store(true)
	const burst = 3 * sendsPerPeer
	for i := range burst {
		s.broadcast(message{Type: msgQuery, RequestID: fmt.Sprintf("%064d", i)})
	}
	for _, p := range g.Peers() {
		g.waitFor(t, p+"'s sends in flight", func() bool { return g.inFlight[p] >= sendsPerPeer })
		if q := s.outboxFor(p).queued(); q != burst-sendsPerPeer {
			t.Fatalf("%s: %d messages wait in the outbox, want %d", p, q, burst-sendsPerPeer)
		}
	}
	close(g.release)
	for _, p := range g.Peers() {
		g.waitFor(t, "every message sent to "+p, func() bool { return g.sent[p] == burst })
		g.mu.Lock()
		most := g.max[p]
		g.mu.Unlock()
		if most != sendsPerPeer {
			t.Fatalf("%s: %d sends in flight at once, want %d", p, most, sendsPerPeer)
		}
	}
	s.wg.Wait() // the workers end with their queues
}

// A message's deadline runs from when it was posted, as when each had a
// goroutine of its own: a backlog whose deadline passed in the outbox (a
// peer's outage) is counted and dropped, not sent late ahead of what is
// sent now.
func TestOutboxBacklogExpires(t *testing.T) {
	defer func(d time.Duration) { sendTimeout = d }(sendTimeout)
	sendTimeout = 0 // every message expired by its turn
	g := &gatedNet{release: make(chan struct{}), inFlight: map[string]int{}, max: map[string]int{}, sent: map[string]int{},
		changed: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Service{ctx: ctx, cancel: cancel, m: newMetrics(), log: slog.New(slog.DiscardHandler), o: Options{Network: g}}
	s.started.Store(true)
	var mu sync.Mutex
	expired := 0
	for range 10 {
		s.post("exchange", func(context.Context) { t.Error("an expired message was sent") }, func() { mu.Lock(); expired++; mu.Unlock() })
	}
	s.wg.Wait() // the workers end with their queue
	if expired != 10 || s.outboxFor("exchange").queued() != 0 {
		t.Fatalf("%d of 10 expired, %d still queued", expired, s.outboxFor("exchange").queued())
	}
}
