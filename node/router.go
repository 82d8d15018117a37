package node

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/tss"
)

// Router bounds: how many early envelopes wait for a session that is not
// open yet, how many ended sessions and envelope digests are remembered.
const (
	maxPendingSessions = 64
	maxPendingPerSess  = 64
	maxEnded           = 4096
	maxDigests         = 1 << 15
	inboxSize          = 64       // a 2-of-3 signing session receives ~10 envelopes
	maxPendingBytes    = 16 << 20 // all early envelopes together
)

// route is one open session's mailbox.
type route struct {
	inbox    chan tss.Inbound
	declines chan declined
	saved    chan declined // from, error ("" when saved)
	commits  chan commitFrom
}

// declined is a participant's answer on a route: a decline, or its
// saved acknowledgement (Reason "" when saved). Resharing reads it too.
type declined = reshare.Reply

// ErrSessionUsed: a session ID is opened at most once.
var ErrSessionUsed = errors.New("node: session ID already used")

// router hands envelopes to the open session they name. Envelopes for a
// session this node has not opened yet wait (bounded); envelopes for an
// ended session are replays: dropped before tss-lib and counted.
//
// Replay protection rests on the session ID, never on payload bytes: a
// session ID is opened once, an ended one stays closed, and tss checks the
// session ID of every envelope. The same payload under two session IDs is
// legitimate (resharing's acknowledgements are empty, so identical in
// every session: ../shared/SECURITY.md scenario 28). What the router does drop by
// content is an exact copy of an envelope the same peer already sent in
// the same session, so that a peer repeating itself cannot fill a
// session's inbox or the pending queue.
type router struct {
	mu      sync.Mutex
	active  map[tss.SessionID]*route
	ended   map[tss.SessionID]bool
	endedQ  []tss.SessionID
	pending map[tss.SessionID][]tss.Inbound
	pendQ   []tss.SessionID
	digests map[[32]byte]bool // envelopeKey of envelopes delivered
	digQ    [][32]byte
	pendB   int // payload bytes held in pending
	counts  *counters
}

func newRouter(c *counters) *router {
	return &router{
		active:  map[tss.SessionID]*route{},
		ended:   map[tss.SessionID]bool{},
		pending: map[tss.SessionID][]tss.Inbound{},
		digests: map[[32]byte]bool{},
		counts:  c,
	}
}

// open registers a session and replays what arrived early. A session ID
// is never opened twice.
func (r *router) open(sid tss.SessionID) (*route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active[sid] != nil || r.ended[sid] {
		return nil, fmt.Errorf("%w: %s", ErrSessionUsed, sid.Short())
	}
	rt := &route{inbox: make(chan tss.Inbound, inboxSize), declines: make(chan declined, 4), saved: make(chan declined, 8), commits: make(chan commitFrom, 16)}
	r.active[sid] = rt
	for _, in := range r.pending[sid] {
		r.pendB -= len(in.Env.Payload)
		select {
		case rt.inbox <- in:
		default:
			r.counts.add("inbox_overflow")
		}
	}
	delete(r.pending, sid)
	return rt, nil
}

// used reports whether sid is open or has ended.
func (r *router) used(sid tss.SessionID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active[sid] != nil || r.ended[sid]
}

// close ends a session; later envelopes for it are replays.
func (r *router) close(sid tss.SessionID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.active, sid)
	r.ended[sid] = true
	r.endedQ = append(r.endedQ, sid)
	if len(r.endedQ) > maxEnded {
		delete(r.ended, r.endedQ[0])
		r.endedQ = r.endedQ[1:]
	}
}

// envelopeKey identifies an envelope by everything it says and the peer
// that sent it, its session ID first: equal keys are the same envelope,
// sent twice in one session.
func envelopeKey(from string, env tss.Envelope) [32]byte {
	h := sha256.New()
	for _, f := range []string{string(env.Session[:]), from, string(env.Protocol), env.From, strings.Join(env.To, ","),
		fmt.Sprint(env.Broadcast, env.Round), env.Type} {
		fmt.Fprintf(h, "%d:%s", len(f), f)
	}
	h.Write(env.Payload)
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// deliver routes one authenticated envelope.
func (r *router) deliver(from string, env tss.Envelope) {
	k := envelopeKey(from, env)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended[env.Session] {
		r.counts.add("replay_ended_session")
		return
	}
	if r.digests[k] {
		r.counts.add("duplicate_envelope")
		return
	}
	in := tss.Inbound{From: from, Env: env}
	if rt := r.active[env.Session]; rt != nil {
		select {
		case rt.inbox <- in:
			r.remember(k)
		default:
			r.counts.add("inbox_overflow")
		}
		return
	}
	q, ok := r.pending[env.Session]
	if !ok {
		if len(r.pendQ) >= maxPendingSessions {
			r.evictOldestPending()
		}
		r.pendQ = append(r.pendQ, env.Session)
	}
	if len(q) >= maxPendingPerSess || r.pendB+len(env.Payload) > maxPendingBytes {
		r.counts.add("pending_overflow")
		return
	}
	r.pendB += len(env.Payload)
	r.pending[env.Session] = append(q, in)
	r.remember(k)
}

// remember records a delivered envelope's key (bounded, oldest first out).
func (r *router) remember(k [32]byte) {
	r.digests[k] = true
	r.digQ = append(r.digQ, k)
	if len(r.digQ) > maxDigests {
		delete(r.digests, r.digQ[0])
		r.digQ = r.digQ[1:]
	}
}

func (r *router) evictOldestPending() {
	for len(r.pendQ) > 0 {
		sid := r.pendQ[0]
		r.pendQ = r.pendQ[1:]
		if q, ok := r.pending[sid]; ok {
			for _, in := range q {
				r.pendB -= len(in.Env.Payload)
			}
			delete(r.pending, sid)
			r.counts.add("pending_evicted")
			return
		}
	}
}

// decline hands a participant's refusal to the session's proposer.
func (r *router) decline(from string, d Decline) {
	r.mu.Lock()
	rt := r.active[d.SessionID]
	r.mu.Unlock()
	if rt == nil {
		return
	}
	select {
	case rt.declines <- declined{From: from, Reason: d.Reason}:
	default:
	}
}

// saved hands a participant's keygen confirmation to the proposer.
func (r *router) saved(from string, s Saved) {
	r.mu.Lock()
	rt := r.active[s.SessionID]
	r.mu.Unlock()
	if rt == nil {
		return
	}
	select {
	case rt.saved <- declined{From: from, Reason: s.Error}:
	default:
	}
}

// commit hands a keygen commit (keygen_commit.go) to its session.
func (r *router) commit(from string, c KeygenCommit) {
	r.mu.Lock()
	rt := r.active[c.SessionID]
	r.mu.Unlock()
	if rt == nil {
		r.counts.add("keygen_stray_commit")
		return
	}
	select {
	case rt.commits <- commitFrom{from: from, c: c}:
	default:
		r.counts.add("keygen_commit_overflow")
	}
}

// counters are the node's named event counts (rejections, aborts).
type counters struct {
	mu sync.Mutex
	m  map[string]int
}

func newCounters() *counters { return &counters{m: map[string]int{}} }

func (c *counters) add(name string) {
	c.mu.Lock()
	c.m[name]++
	c.mu.Unlock()
}

func (c *counters) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}
