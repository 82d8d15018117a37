package custody_test

import (
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
)

func TestClockMonitorAndStopwatch(t *testing.T) {
	c := custody.NewFakeClock(epoch)
	m := custody.NewClockMonitor(c, time.Minute)
	sw := custody.NewStopwatch(c)
	if sw.Lap() != 0 {
		t.Fatal("first lap must be 0")
	}
	c.Advance(3 * time.Hour)
	if r := m.Check(); r.Jumped || r.Drift != 0 {
		t.Fatalf("no jump expected: %v", r)
	}
	c.Jump(49 * time.Hour)
	if r := m.Check(); !r.Jumped || r.Drift != 49*time.Hour {
		t.Fatalf("jump not reported: %v", r)
	}
	if lap := sw.Lap(); lap != 3*time.Hour {
		t.Fatalf("a wall jump must not reach the stopwatch: lap %v", lap)
	}
	m.Rebase()
	c.Jump(-2 * time.Hour)
	if r := m.Check(); !r.Jumped || r.Drift != -2*time.Hour {
		t.Fatalf("backward jump: %v", r)
	}
}

func TestRealClock(t *testing.T) {
	c := custody.NewRealClock()
	m := custody.NewClockMonitor(c, time.Minute)
	if c.Monotonic() < 0 || m.Check().Jumped {
		t.Fatal("real clock misbehaves")
	}
}

func TestComparePeers(t *testing.T) {
	own := epoch
	if s := custody.ComparePeers(own, nil, time.Minute); s.Jumped || s.Peers != 0 {
		t.Fatal("no peers: nothing to report")
	}
	s := custody.ComparePeers(own.Add(49*time.Hour), map[custody.Party]time.Time{custody.Custodian: own, custody.Exchange: own.Add(time.Second)}, time.Minute)
	if !s.Jumped || s.Skew != 49*time.Hour-time.Second {
		t.Fatalf("jumped node: %+v", s)
	}
	s = custody.ComparePeers(own, map[custody.Party]time.Time{custody.Exchange: own.Add(time.Second), custody.Regulator: own.Add(49 * time.Hour)}, time.Minute)
	if s.Jumped {
		t.Fatalf("a good node next to a jumped one: %+v", s)
	}
}

// A FakeClock's After fires when Advance reaches it, never on its own and
// never on a wall-clock jump (issue 9: the batch cut's timer runs on the
// injected clock, so tests drive it without sleeping).
func TestFakeClockAfter(t *testing.T) {
	c := custody.NewFakeClock(epoch)
	ch := c.After(10 * time.Second)
	c.Jump(time.Hour)
	c.Advance(10*time.Second - time.Nanosecond)
	select {
	case <-ch:
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Nanosecond)
	select {
	case at := <-ch:
		if !at.Equal(c.Now()) {
			t.Fatalf("fired with %v, want the fake wall time %v", at, c.Now())
		}
	default:
		t.Fatal("did not fire at its time")
	}
	select {
	case <-c.After(0):
	default:
		t.Fatal("After(0) did not fire at once")
	}
}
