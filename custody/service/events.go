package service

import (
	"sync"
	"time"

	"github.com/triad-custody/triad/custody"
)

// Event types on the event stream.
const (
	EventRequest    = "request"     // a request was stored here
	EventDecision   = "decision"    // this node's policy decision changed
	EventStatus     = "status"      // this node's status of a request changed
	EventApproval   = "approval"    // an approval was recorded (signed or automatic)
	EventVeto       = "veto"        // a veto was recorded
	EventPeerStatus = "peer_status" // a peer reported its status
	EventSigned     = "signed"      // a verified signature was recorded
	EventFailure    = "failure"     // a signing attempt or finalisation failed
	EventClockJump  = "clock_jump"  // this node's wall clock jumped
	EventDivergence = "divergence"  // an audit chain diverged
	EventReconcile  = "reconcile"   // a reconciliation finished
	EventSettlement = "settlement"  // a done request's txid or confirmations changed here
)

// Event is one entry of the node's event stream. It carries no key
// material; Detail is for people.
type Event struct {
	Seq       uint64            `json:"seq"`
	Time      time.Time         `json:"time"` // this node's clock
	Type      string            `json:"type"`
	RequestID string            `json:"request_id,omitempty"`
	Party     custody.Party     `json:"party,omitempty"`
	Status    custody.Status    `json:"status,omitempty"`
	Detail    string            `json:"detail,omitempty"`
	Decision  *custody.Decision `json:"decision,omitempty"`
}

func (s *Service) emit(e Event) {
	e.Time = s.clock.Now()
	s.events.publish(e)
}

// Subscribe returns a channel of events after seq `since` (0: only new
// ones; events still in the buffer are replayed first) and a cancel func.
// A subscriber that falls behind by more than the buffer loses events; the
// gap shows in Seq.
func (s *Service) Subscribe(since uint64) (<-chan Event, func()) { return s.events.subscribe(since) }

// Events returns the buffered events after seq since.
func (s *Service) Events(since uint64) []Event { return s.events.after(since) }

type broker struct {
	mu     sync.Mutex
	seq    uint64
	ring   []Event
	size   int
	subs   map[chan Event]struct{}
	closed bool
}

func newBroker(size int) *broker { return &broker{size: size, subs: map[chan Event]struct{}{}} }

func (b *broker) publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.seq++
	e.Seq = b.seq
	b.ring = append(b.ring, e)
	if len(b.ring) > b.size {
		b.ring = b.ring[len(b.ring)-b.size:]
	}
	for ch := range b.subs {
		select {
		case ch <- e:
		default: // slow subscriber: it sees the gap in Seq
		}
	}
}

func (b *broker) after(since uint64) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Event
	for _, e := range b.ring {
		if e.Seq > since {
			out = append(out, e)
		}
	}
	return out
}

func (b *broker) subscribe(since uint64) (<-chan Event, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan Event, b.size+64)
	if since > 0 {
		for _, e := range b.ring {
			if e.Seq > since {
				ch <- e
			}
		}
	}
	if b.closed {
		close(ch)
		return ch, func() {}
	}
	b.subs[ch] = struct{}{}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if _, ok := b.subs[ch]; ok {
				delete(b.subs, ch)
				close(ch)
			}
		})
	}
}

func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
}
