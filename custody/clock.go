package custody

import (
	"fmt"
	"sync"
	"time"
)

// Clock is this node's view of time. Now is the wall clock (it can be set,
// stepped by NTP, or jump); Monotonic is time since an arbitrary origin that
// only moves forward at the real rate while the process runs. Timing rules
// that matter (the emergency-unfreeze notice period) need both.
type Clock interface {
	Now() time.Time
	Monotonic() time.Duration
	// After delivers once d of monotonic time has passed (d <= 0: at
	// once), as time.After does; a FakeClock's fires when Advance
	// reaches it.
	After(d time.Duration) <-chan time.Time
}

// RealClock reads the operating system's clocks.
type RealClock struct{ origin time.Time }

var _ Clock = (*RealClock)(nil)

// NewRealClock starts a real clock; its monotonic origin is now.
func NewRealClock() *RealClock { return &RealClock{origin: time.Now()} }

// Now returns the wall clock without Go's monotonic reading, so comparisons
// made with it are wall-clock comparisons.
func (c *RealClock) Now() time.Time { return time.Now().Round(0) }

// Monotonic returns the monotonic time since the clock was made.
func (c *RealClock) Monotonic() time.Duration { return time.Since(c.origin) }

// After is time.After.
func (c *RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// FakeClock is a Clock tests drive by hand.
type FakeClock struct {
	mu      sync.Mutex
	wall    time.Time
	mono    time.Duration
	waiters []fakeWaiter // After's, until Advance reaches them
}

type fakeWaiter struct {
	at time.Duration // monotonic
	ch chan time.Time
}

// After delivers the fake wall time once Advance has moved the monotonic
// clock d past now (d <= 0: at once). Nothing fires on its own.
func (c *FakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.wall
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.mono + d, ch: ch})
	return ch
}

var _ Clock = (*FakeClock)(nil)

// NewFakeClock starts a fake clock at wall time t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{wall: t.Round(0)} }

// Now returns the fake wall time.
func (c *FakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.wall }

// Monotonic returns the fake monotonic time.
func (c *FakeClock) Monotonic() time.Duration { c.mu.Lock(); defer c.mu.Unlock(); return c.mono }

// Advance lets d of real time pass: both clocks move.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall = c.wall.Add(d)
	c.mono += d
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at <= c.mono {
			w.ch <- c.wall // buffered: never blocks
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// Jump steps the wall clock only, as a bad NTP server or an operator would.
func (c *FakeClock) Jump(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall = c.wall.Add(d)
}

// Stopwatch measures monotonic time between laps. A node keeps one per
// process and, on every tick, adds Lap() to the Witnessed time of each open
// request (see Timeline). The first Lap after a restart returns 0: time the
// node was down is never counted, so a restart cannot shorten a notice period.
type Stopwatch struct {
	mu      sync.Mutex
	clock   Clock
	last    time.Duration
	started bool
}

// NewStopwatch returns a stopwatch over c.
func NewStopwatch(c Clock) *Stopwatch { return &Stopwatch{clock: c} }

// Lap returns the monotonic time since the previous Lap (0 on the first).
func (s *Stopwatch) Lap() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Monotonic()
	if !s.started {
		s.started, s.last = true, now
		return 0
	}
	d := now - s.last
	s.last = now
	if d < 0 {
		return 0
	}
	return d
}

// ClockReport is what a ClockMonitor found.
type ClockReport struct {
	Drift  time.Duration // wall elapsed minus monotonic elapsed since the baseline
	Jumped bool          // |Drift| beyond the tolerance
}

func (r ClockReport) String() string {
	if !r.Jumped {
		return fmt.Sprintf("clock ok (drift %s)", r.Drift)
	}
	return fmt.Sprintf("clock jump %+v", r.Drift)
}

// ClockMonitor compares the wall clock with the monotonic clock since a
// baseline. A wall clock that ran ahead of (or behind) monotonic time by more
// than the tolerance has jumped; the node reports it (log, metric, audit) and
// keeps refusing timing-sensitive actions it would otherwise allow early:
// Evaluate already demands monotonic elapsed time as well as wall time.
type ClockMonitor struct {
	mu        sync.Mutex
	clock     Clock
	tolerance time.Duration
	baseWall  time.Time
	baseMono  time.Duration
}

// NewClockMonitor takes its baseline now.
func NewClockMonitor(c Clock, tolerance time.Duration) *ClockMonitor {
	m := &ClockMonitor{clock: c, tolerance: tolerance}
	m.Rebase()
	return m
}

// Rebase accepts the current wall clock as correct (after an operator has
// looked at a reported jump).
func (m *ClockMonitor) Rebase() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.baseWall, m.baseMono = m.clock.Now(), m.clock.Monotonic()
}

// Check reports the drift of the wall clock against the monotonic clock.
func (m *ClockMonitor) Check() ClockReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	wall := m.clock.Now().Sub(m.baseWall)
	mono := m.clock.Monotonic() - m.baseMono
	d := wall - mono
	return ClockReport{Drift: d, Jumped: d > m.tolerance || d < -m.tolerance}
}

// PeerSkew is the skew of this node's clock against its peers' reported times.
type PeerSkew struct {
	Skew   time.Duration // own minus the closest peer's time
	Jumped bool          // |Skew| beyond the tolerance: out of line with every peer
	Peers  int
}

// ComparePeers compares own wall time with times peers reported at (about)
// the same moment, e.g. in authenticated heartbeats. A node is out of line
// when it disagrees with every peer; with three parties, one bad clock is
// singled out and the two good ones still agree with each other. With no
// peers it reports nothing.
func ComparePeers(own time.Time, peers map[Party]time.Time, tolerance time.Duration) PeerSkew {
	if len(peers) == 0 {
		return PeerSkew{}
	}
	first := true
	var best time.Duration
	for _, t := range peers {
		s := own.Sub(t)
		if first || abs(s) < abs(best) || abs(s) == abs(best) && s < best {
			best, first = s, false
		}
	}
	return PeerSkew{Skew: best, Jumped: abs(best) > tolerance, Peers: len(peers)}
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
