package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ../shared/SECURITY.md scenario 19: a flood of peers' messages cannot grow the work queue
// without bound nor block the transport's goroutine: past maxPeerJobs
// waiting they are dropped and counted (logged once per stretch), while
// this node's own jobs are never dropped and still run, in order.
func TestQueueBoundsPeerJobsKeepsOwn(t *testing.T) {
	var drops, firsts int
	q := newQueue(func(first bool) {
		drops++
		if first {
			firsts++
		}
	})
	var ran atomic.Int64
	for i := 0; i < maxPeerJobs; i++ { // no runner yet: none of this may block
		if !q.push(func() { ran.Add(1) }) {
			t.Fatalf("peer job %d dropped below the bound", i)
		}
	}
	for i := 0; i < 3; i++ {
		if q.push(func() { ran.Add(1) }) {
			t.Fatal("peer job queued past the bound")
		}
	}
	if drops != 3 || firsts != 1 {
		t.Fatalf("drops %d (first of a stretch %d), want 3 (1)", drops, firsts)
	}
	const own = 5
	done := make(chan struct{})
	for i := 0; i < own; i++ {
		last := i == own-1
		q.pushOwn(func() {
			ran.Add(1)
			if last {
				close(done)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.run(ctx)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("queue did not drain")
	}
	if got := ran.Load(); got != maxPeerJobs+own {
		t.Fatalf("ran %d jobs, want %d", got, maxPeerJobs+own)
	}
	// Drained: peers' messages are queued again, and a new stretch of
	// drops would be logged afresh.
	again := make(chan struct{})
	if !q.push(func() { close(again) }) {
		t.Fatal("peer job dropped after the queue drained")
	}
	select {
	case <-again:
	case <-time.After(10 * time.Second):
		t.Fatal("peer job after drain did not run")
	}
	q.mu.Lock()
	full := q.full
	q.mu.Unlock()
	if full {
		t.Fatal("queue still marked full after draining")
	}
}

// ../shared/SECURITY.md scenario 19 (issue 9, the storm's drain): a peer's message
// the full work queue drops is counted by its type, so a storm's drops
// name the messages that overran the queue (they were all counted as
// "any").
func TestQueueDropsCountedByType(t *testing.T) {
	s := &Service{m: newMetrics(), log: slog.New(slog.DiscardHandler)}
	s.work = newQueue(s.peerJobDropped)
	msg := func(typ string) []byte {
		b, err := json.Marshal(message{Type: typ, RequestID: "r"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for range maxPeerJobs { // no runner: the queue fills
		s.receive("exchange", msg(msgQuery))
	}
	s.receive("exchange", msg(msgStatus))
	s.receive("exchange", msg(msgStatus))
	s.receive("exchange", msg(msgEndorse))
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.m.peerMsgs)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	dropped := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var typ, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "type":
					typ = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			if result == "dropped_queue_full" {
				dropped[typ] += m.GetCounter().GetValue()
			}
		}
	}
	for typ, want := range map[string]float64{msgStatus: 2, msgEndorse: 1, msgQuery: 0, "any": 0} {
		if got := dropped[typ]; got != want {
			t.Errorf("%s messages dropped by the full queue: counted %v, want %v", typ, got, want)
		}
	}
}

// Issue 9 (the storm's drain; ../shared/SECURITY.md scenario 19): a
// peer's newer status report about a request replaces its report still
// waiting in the work queue, in its place, instead of taking one more of
// maxPeerJobs (in the N=300 storm 367 statuses were dropped at the
// exchange's full queue, most of them superseded by the next); an older
// one arriving late is itself superseded. Other jobs are untouched. On
// the old code every report took a place.
func TestQueueStatusSupersedesWaiting(t *testing.T) {
	q := newQueue(func(bool) { t.Fatal("dropped") })
	var got []string
	t0 := time.Unix(0, 0)
	q.push(func() { got = append(got, "first") })
	q.pushKeyed("status|exchange|r1", t0.Add(1), func() { got = append(got, "r1@1") })
	q.pushKeyed("status|exchange|r2", t0.Add(1), func() { got = append(got, "r2@1") })
	_, sup := q.pushKeyed("status|exchange|r1", t0.Add(3), func() { got = append(got, "r1@3") })
	_, late := q.pushKeyed("status|exchange|r1", t0.Add(2), func() { got = append(got, "r1@2") })
	if !sup || !late {
		t.Fatalf("superseded %v, late one superseded %v: want both", sup, late)
	}
	if q.peerJobs != 4-1 || len(q.jobs) != 3 {
		t.Fatalf("%d peer jobs, %d jobs waiting, want 3 and 3", q.peerJobs, len(q.jobs))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	q.pushOwn(func() { close(done) })
	go q.run(ctx)
	<-done
	cancel()
	if want := []string{"first", "r1@3", "r2@1"}; !slices.Equal(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	if _, sup := q.pushKeyed("status|exchange|r1", t0.Add(4), func() {}); sup {
		t.Fatal("a report superseded one that had already run")
	}
}
