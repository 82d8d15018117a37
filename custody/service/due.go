package service

import (
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/store"
)

// Tick's per-request work is proportional to what is due or changed, not
// to the number of open requests (issue 9: a storm's hundreds of open
// requests were each stepped and offered on every tick, and the peers'
// work queues dropped the flood). A request is stepped on a tick when:
//   - it changed since the tick last stepped it (its published status,
//     reason, decision or endorsements), or this node's peers' reachability
//     changed since the last tick (every request);
//   - it waits on something only polling sees: a refusal that time or a
//     fact still to come lifts (notice period, credit figure, the opener's
//     approval), coins not yet reservable, or a signing attempt it joined
//     whose session has lapsed;
//   - else on a backoff: one tick period after it was last stepped,
//     doubling while it stays unchanged, up to maxBackoff.
//
// Offers and queries to a peer (offer.go) use the same backoff per request
// and peer, from offerEvery after a tick first sees the request (at once
// when the peers' reachability changed), each interval spread by a fixed
// fraction of the request's and peer's hash so the requests of one storm
// are not offered in one burst.

// maxBackoff bounds how long unchanged work waits.
const maxBackoff = time.Minute

// backoff schedules one recurring piece of work: at (monotonic) it is due
// again; every doubles from the base while key stays the same.
type backoff struct {
	at    time.Duration
	every time.Duration
	key   string
}

// next schedules the work just done at now, with key the state it saw.
func (b *backoff) next(now, base time.Duration, key string) {
	if b.every == 0 || key != b.key {
		b.every = base
	} else {
		b.every = min(2*b.every, maxBackoff)
	}
	b.key, b.at = key, now+b.every
}

// schedule is Tick's memory of what it did (under mu; maps made lazily).
type schedule struct {
	steps  map[string]*backoff // request ID → its tick steps
	offers map[string]*backoff // "id|peer", "q|id|peer" → offers to a peer
	reach  string              // the peers connected at the last tick ("" before the first)
	track  map[string]string   // request ID → the chain's answer it was last stepped with
}

// tickBase is the backoff's first interval: the tick period.
func (s *Service) tickBase() time.Duration {
	if s.o.TickEvery > 0 {
		return s.o.TickEvery
	}
	return 5 * time.Second
}

// stepDue steps the open requests that are due (see above) and schedules
// each one's next tick step. It reports whether the peers' reachability
// changed since the last tick (or since Start, which offered all).
func (s *Service) stepDue(pending []store.Entry) bool {
	now := s.clock.Monotonic()
	reach := "up:" + s.reachKey()
	s.mu.Lock()
	if s.sched.steps == nil {
		s.sched.steps = map[string]*backoff{}
	}
	all := reach != s.sched.reach
	s.sched.reach = reach
	polled := s.polledLocked()
	open := make(map[string]bool, len(pending))
	var ids []string
	for _, e := range pending {
		id := e.Request.ID()
		open[id] = true
		b := s.sched.steps[id]
		if all || b == nil || now >= b.at || s.published[id] != b.key || s.pollsLocked(id, e, polled) {
			ids = append(ids, id)
		}
	}
	for id := range s.sched.steps {
		if !open[id] {
			delete(s.sched.steps, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.step(id)
		s.m.tickSteps.Inc()
		s.mu.Lock()
		b := s.sched.steps[id]
		if b == nil {
			b = &backoff{}
			s.sched.steps[id] = b
		}
		b.next(now, s.tickBase(), s.published[id])
		s.mu.Unlock()
	}
	return all
}

// reachKey names the peers connected now.
func (s *Service) reachKey() string {
	n, _ := s.network()
	if n == nil {
		return ""
	}
	var up []string
	for _, p := range n.Peers() {
		if n.Connected(p) {
			up = append(up, p)
		}
	}
	slices.Sort(up)
	return strings.Join(up, ",")
}

// polledLocked lists the requests whose signing needs no polling: those
// with a live session this node joined and the members of batches it
// coordinates.
func (s *Service) polledLocked() map[string]bool {
	busy := map[string]bool{}
	for key, ls := range s.sessions {
		if s.live(ls) {
			rid, _, _ := strings.Cut(strings.TrimPrefix(key, "batch|"), "/")
			busy[rid] = true
		}
	}
	for _, r := range s.batch.runs {
		for _, m := range r.b.Members {
			busy[m.RequestID] = true
		}
	}
	return busy
}

// pollsLocked reports whether request e waits on something only a step
// on every tick notices (see above).
func (s *Service) pollsLocked(id string, e store.Entry, busy map[string]bool) bool {
	if d, ok := s.decisions[id]; ok && d.Verdict == custody.VerdictRefuse && d.Transient() {
		return true
	}
	if e.Progress.Record.Status == custody.StatusSigning && s.inflight[id] == "" && !busy[id] {
		return true // the attempt it joined may be over (custody.Step's JoinedOver)
	}
	if s.waiting[id] == "" || slices.Contains(s.inLine, id) {
		return false
	}
	_, queued := s.batch.queued[id]
	return !queued // waiting for coins
}

// offerDueLocked reports whether key's offer to a peer ("id|peer",
// "q|id|peer") is due, and if so marks it now. The first time a tick sees
// key it is due offerEvery later (the messages of a new request were just
// sent: offering them again at once only floods a peer busy with a storm's
// burst), unless now (the peers' reachability changed: all is due at
// once); then after offerEvery, doubling up to maxBackoff while state
// (what this node and the peer last said of the request) stays the same,
// each interval spread by up to a quarter by key's hash.
func (s *Service) offerDueLocked(key, state string, now bool) bool {
	if s.sched.offers == nil {
		s.sched.offers = map[string]*backoff{}
	}
	mono := s.clock.Monotonic()
	b := s.sched.offers[key]
	if b == nil {
		b = &backoff{}
		s.sched.offers[key] = b
		if !now {
			b.next(mono, offerEvery, state)
			s.offered[key] = mono
			return false
		}
	}
	if last, ok := s.offered[key]; ok && !now {
		wait := b.every
		if state != b.key {
			wait = offerEvery
		}
		if mono-last < wait+spread(key, wait) {
			return false
		}
	}
	b.next(mono, offerEvery, state)
	s.offered[key] = mono
	return true
}

// spread is a fixed fraction, up to a quarter, of d, chosen by key.
func spread(key string, d time.Duration) time.Duration {
	h := fnv.New32a()
	h.Write([]byte(key))
	return d / 4 * time.Duration(h.Sum32()%1024) / 1024
}
