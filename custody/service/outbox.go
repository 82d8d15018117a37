package service

import (
	"context"
	"sync"
	"time"
)

// Custody messages go to each peer through an outbox: at most
// sendsPerPeer at once, the rest in order behind them. Every message is a
// libp2p stream of its own, and a stream is "transient" at the receiver
// until its protocol is agreed; a burst of hundreds (a storm's statuses,
// and a tick's offers and queries for every open request) overran the
// receiver's transient stream limit (node's resource manager, 32), which
// reset streams of signing sessions as well: sessions aborted and were
// signed again. The outbox keeps the burst in memory instead, bounded
// (maxOutbox: past it a message is dropped and counted, and anti-entropy
// brings back what mattered, as when a send fails).
type outbox struct {
	mu      sync.Mutex
	queue   []outgoing
	running int // workers sending (at most sendsPerPeer)
}

// outgoing is one queued message: its send, and the end of its deadline,
// which runs from when it was posted (as when every message had its own
// goroutine): after a peer's outage its backlog expires instead of
// holding up what is sent now.
type outgoing struct {
	send    func(context.Context)
	expired func()
	until   time.Time
}

const (
	sendsPerPeer = 4
	maxOutbox    = 4096
)

// sendTimeout bounds one message's wait in the outbox and its send.
var sendTimeout = 10 * time.Second

// outboxFor is peer to's outbox.
func (s *Service) outboxFor(to string) *outbox {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.outboxes == nil {
		s.outboxes = map[string]*outbox{}
	}
	o := s.outboxes[to]
	if o == nil {
		o = &outbox{}
		s.outboxes[to] = o
	}
	return o
}

// post queues send for peer to, starting a worker when fewer than
// sendsPerPeer run; it reports false, having dropped it, when the outbox
// is full. A message whose deadline passes before its turn is not sent:
// expired is called instead.
func (s *Service) post(to string, send func(context.Context), expired func()) bool {
	o := s.outboxFor(to)
	o.mu.Lock()
	if len(o.queue) >= maxOutbox {
		o.mu.Unlock()
		return false
	}
	o.queue = append(o.queue, outgoing{send: send, expired: expired, until: time.Now().Add(sendTimeout)})
	start := o.running < sendsPerPeer
	if start {
		o.running++
	}
	o.mu.Unlock()
	if start && !s.spawn(func() { o.work(s.ctx) }) {
		o.mu.Lock()
		o.running--
		o.mu.Unlock()
	}
	return true
}

// work sends queued messages until the queue is empty or ctx ends.
func (o *outbox) work(ctx context.Context) {
	for {
		o.mu.Lock()
		if len(o.queue) == 0 || ctx.Err() != nil {
			o.running--
			o.mu.Unlock()
			return
		}
		m := o.queue[0]
		o.queue[0] = outgoing{}
		o.queue = o.queue[1:]
		o.mu.Unlock()
		if !time.Now().Before(m.until) {
			m.expired()
			continue
		}
		sctx, cancel := context.WithDeadline(ctx, m.until)
		m.send(sctx)
		cancel()
	}
}

// queued is how many messages wait in the outbox (tests).
func (o *outbox) queued() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue)
}
