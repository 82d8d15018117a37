package service

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/custody/store"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/tss"
)

// Network is what the service needs of the signing network; *node.Node
// implements it.
type Network interface {
	Sign(ctx context.Context, req node.SignRequest) (*node.SignResult, error)
	SendApp(ctx context.Context, to, topic string, payload []byte) error
	HandleApp(topic string, h func(from string, payload []byte))
	Peers() []string
	// Connected reports whether a peer's node is reachable now.
	Connected(party string) bool
}

// KeyLoader loads this node's key shares (for their public keys);
// *keystore.Store implements it.
type KeyLoader interface {
	Load(ctx context.Context, keyID string) (*tss.KeyShare, error)
}

var (
	_ Network         = (*node.Node)(nil)
	_ KeyLoader       = (*keystore.Store)(nil)
	_ node.Authorizer = (*Service)(nil)
)

// StoreFile is the custody store's file name inside a node's data dir.
const StoreFile = "custody.db"

// Options configure a Service. Policy and Store (or Path) are required.
type Options struct {
	Policy custody.Policy
	// Network is the signing network (the node: node.Runtime.Node) and
	// Keys this node's key store (its public keys); the service talks to
	// peers through them once started (Start). Without them it serves
	// Submit, Endorse, AuthorizeSign and reads only.
	Network Network
	Keys    KeyLoader
	// Store is an open store; else Path is opened (and closed by Close).
	Store *store.Store
	Path  string
	// Clock is this node's clock (default: the real one). Tests give each
	// node its own FakeClock.
	Clock  custody.Clock
	Logger *slog.Logger
	// Digester computes what a request signs (default DefaultDigester).
	Digester Digester
	// Finalizer runs on the coordinator after signing (nil: the signature
	// is the product and the request is done at once).
	Finalizer Finalizer
	// Coins is the chain boundary: it plans, checks and holds what pays a
	// transfer (plan.go; settle.Chains). nil: no request has a plan.
	Coins Chain
	// Batcher pays approved liquidations in liquidation batches
	// (batch_flow.go; settle.Settler, or InterimBatcher); nil: each
	// liquidation is its own transaction.
	Batcher Batcher
	// Exposure reports an account's open exposure (require_zero_exposure).
	Exposure func(account string) (uint64, bool)
	// Credit reports an account's mirrored-credit figure at a time (the
	// exchange's node: holdings.CreditBook.Facts), which a liquidation's
	// evidence is checked against (custody.State.Credit); nil: none.
	Credit func(account string, now time.Time) custody.CreditFacts
	// Tracker follows a done request's Bitcoin transaction on this node's
	// Bitcoin node, from Tick, until it has TrackConfirmations (default
	// 6); nil: nothing is tracked.
	Tracker            Tracker
	TrackConfirmations int64
	// MaxAttempts bounds the signing attempts this node coordinates at
	// once (default 4); approved requests past it wait in line, in order.
	MaxAttempts int
	// SignTimeout is the node's per-attempt signing deadline (default 30s):
	// a session this node joined is live that long.
	SignTimeout time.Duration
	// TickEvery is the period of Tick when Start runs the loop
	// (default 5s; negative: no ticker, the caller calls Tick).
	TickEvery time.Duration
	// AuthorizeWait bounds how long a partner waits for facts still in
	// flight (the coordinator's approval) before declining (default 5s).
	AuthorizeWait time.Duration
	// ReconcileMargin leaves the newest records out of a reconciliation,
	// since peers may not have them yet (default 5m).
	ReconcileMargin time.Duration
}

// Service is one node's custody service.
type Service struct {
	o       Options
	party   custody.Party
	pol     custody.Policy
	clock   custody.Clock
	st      *store.Store
	ownsSt  bool
	log     *slog.Logger
	watch   *custody.Stopwatch
	monitor *custody.ClockMonitor
	events  *broker
	m       *metrics
	work    *queue

	choosing keyedMutex        // per account: coin choice and reservation
	checked  seenSet           // plans checked on the chain, per attempt
	results  resultCache       // stored results, decoded (sign.go)
	settleMu sync.Mutex        // one batch finalization at a time (settleBatchResult)
	planning map[string]bool   // under mu: coins being chosen for a request
	inLine   []string          // under mu: approved requests in line for an attempt (MaxAttempts)
	waiting  map[string]string // under mu: why a request's coins could not be reserved yet
	batch    batchState        // under mu: liquidations queued for the next batch (batch_flow.go)
	sched    schedule          // under mu: what Tick did, so it does only what is due (due.go)

	mu        sync.Mutex // serializes every decision and transition
	changed   chan struct{}
	decisions map[string]custody.Decision // request ID → this node's latest decision
	inflight  map[string]string           // request ID → nonce of the attempt this node coordinates
	sessions  map[string]liveSession      // partner: request/digest → session this node joined
	published map[string]string           // request ID → last status/decision sent
	offered   map[string]time.Duration    // "id|peer" → monotonic time of the last offer
	peers     map[string]map[custody.Party]PeerStatus
	orphans   map[string][]orphan
	jumped    bool
	pinned    map[string]audit.Head // the last head each peer sent us
	calls     map[string]pendingCall
	nextRecon time.Time
	lastRecon []ReconcileResult

	// Settlement tracking (track.go), under mu.
	tracked    map[string]bool // done requests whose transaction Tick follows
	trackBusy  bool            // a tracking run is under way
	trackAgain bool            // a tick came during it: one more pass

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	outMu    sync.Mutex
	outboxes map[string]*outbox // per peer: custody messages being sent (outbox.go)
	goMu     sync.RWMutex       // orders goroutine starts before Close's Wait
	stopping bool
	closed   bool
	started  atomic.Bool // Start was called: the service talks to peers
}

// liveSession is a signing session this node joined as a partner: whose
// it is and until when (this node's monotonic clock) it may be live.
type liveSession struct {
	coordinator string
	until       time.Duration
}

// joinedLocked is a session joined now with coordinator; it lives one
// sign timeout on the injected clock.
func (s *Service) joinedLocked(coordinator string) liveSession {
	return liveSession{coordinator: coordinator, until: s.clock.Monotonic() + s.o.SignTimeout}
}

// live reports whether a joined session may still be running, by the
// injected clock.
func (s *Service) live(ls liveSession) bool { return s.clock.Monotonic() < ls.until }

type orphan struct {
	from string
	msg  message
}

// Open opens the store in cfg's data dir (unless o has one) and makes the
// service with o.Policy (the node's own, daemon.Config.Policy) over the
// node made by node.Start (o.Network, o.Keys), before the node serves
// with the service as its authorizer (node.Runtime.Serve).
func Open(cfg *node.Config, o Options) (*Service, error) {
	if o.Path == "" && o.Store == nil {
		o.Path = filepath.Join(cfg.Resolve(cfg.DataDir), StoreFile)
	}
	if o.SignTimeout == 0 {
		o.SignTimeout = cfg.Sessions.SignTimeout
	}
	return New(o)
}

// New makes a service. It serves Submit, Endorse, AuthorizeSign and reads
// at once; it talks to peers once started (Start).
func New(o Options) (*Service, error) {
	if err := o.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("starting custody service: %w", err)
	}
	if o.Clock == nil {
		o.Clock = custody.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Digester == nil {
		o.Digester = DefaultDigester
	}
	if o.SignTimeout <= 0 {
		o.SignTimeout = 30 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 4
	}
	if o.TickEvery == 0 {
		o.TickEvery = 5 * time.Second
	}
	if o.AuthorizeWait <= 0 {
		o.AuthorizeWait = 5 * time.Second
	}
	if o.ReconcileMargin <= 0 {
		o.ReconcileMargin = 5 * time.Minute
	}
	if o.TrackConfirmations <= 0 {
		o.TrackConfirmations = DefaultTrackConfirmations
	}
	st, owns := o.Store, false
	if st == nil {
		if o.Path == "" {
			return nil, fmt.Errorf("starting custody service: a store or a store path is required")
		}
		var err error
		if st, err = store.Open(o.Path, o.Policy.Party); err != nil {
			return nil, fmt.Errorf("starting custody service: %w", err)
		}
		owns = true
	}
	s := &Service{o: o, party: o.Policy.Party, pol: o.Policy, clock: o.Clock, st: st, ownsSt: owns,
		log:   o.Logger.With("component", "custody", "party", o.Policy.Party),
		watch: custody.NewStopwatch(o.Clock), monitor: custody.NewClockMonitor(o.Clock, o.Policy.ClockSkew),
		events: newBroker(512), m: newMetrics(),
		changed: make(chan struct{}), decisions: map[string]custody.Decision{}, inflight: map[string]string{}, sessions: map[string]liveSession{},
		published: map[string]string{}, offered: map[string]time.Duration{}, peers: map[string]map[custody.Party]PeerStatus{}, orphans: map[string][]orphan{},
		pinned: map[string]audit.Head{}, calls: map[string]pendingCall{}, tracked: map[string]bool{},
		planning: map[string]bool{}, waiting: map[string]string{}}
	s.batch = newBatchState(o.MaxAttempts)
	if inner := o.Finalizer; o.Batcher != nil && inner != nil {
		// A batch member's result finalizes its whole batch.
		s.o.Finalizer = func(ctx context.Context, req custody.Request, res Result) error {
			if res.Batch != nil {
				return s.settleBatchResult(ctx, res)
			}
			return inner(ctx, req, res)
		}
	}
	s.work = newQueue(s.peerJobDropped)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.watch.Lap()
	s.nextRecon = s.clock.Now().Add(s.reconcileEvery())
	s.spawn(func() { s.work.run(s.ctx) })
	if err := s.recover(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.resumeTracking(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Start begins talking to peers over Options.Network, once the node
// serves: it installs the service's app-message handler, offers peers
// what it holds of every open request and asks for the status of each, so
// what was lost when it stopped reaches them and one that finished while
// this node was down catches up; then it runs the loop (unless TickEvery is
// negative): Tick every TickEvery, and a liquidation batch cut when it is
// due, on the injected clock (nextCutLocked), not at the tick after.
// Call it once.
func (s *Service) Start() {
	s.started.Store(true)
	if n := s.o.Network; n != nil {
		n.HandleApp(Topic, s.receive)
		pending, err := s.st.Pending()
		if err != nil {
			s.log.Error("listing open requests", "err", err)
		}
		// What this node sent before it stopped may have died in its
		// outbox: offer every open request's proposal and endorsements to
		// the connected peers at once, and ask for theirs (offer).
		s.offer(pending, true)
		// That was the offer a change of the peers' reachability makes:
		// the first tick repeats it only if the reachability changes again.
		reach := "up:" + s.reachKey()
		s.mu.Lock()
		s.sched.reach = reach
		s.mu.Unlock()
		for _, e := range pending {
			id := e.Request.ID()
			s.work.pushOwn(func() { s.step(id) })
		}
	}
	if s.o.TickEvery < 0 {
		return
	}
	s.spawn(func() {
		t := time.NewTicker(s.o.TickEvery)
		defer t.Stop()
		var cut cutTimer
		for {
			cut = s.armCut(cut)
			select {
			case <-t.C:
				s.Tick(s.ctx)
			case <-cut.c:
				cut = cutTimer{last: s.clock.Monotonic(), cut: true}
				s.cutBatch()
			case <-s.batch.wake:
			case <-s.ctx.Done():
				return
			}
		}
	})
}

// cutTimer fires at the next batch cut: at is its monotonic time; last
// is when the loop last cut (if cut).
type cutTimer struct {
	c    <-chan time.Time
	at   time.Duration
	last time.Duration
	cut  bool
}

// minCutWait is the least time between two cuts of the loop: a cut
// still due right after one (what it left could not go yet) waits that
// long, so the loop never spins.
const minCutWait = time.Second

// armCut returns the timer for the next cut: t if it fires no later, a
// new one from the injected clock if the cut is sooner, none if nothing
// waits.
func (s *Service) armCut(t cutTimer) cutTimer {
	s.mu.Lock()
	d, ok := s.nextCutLocked()
	s.mu.Unlock()
	now := s.clock.Monotonic()
	if t.cut {
		d = max(d, t.last+minCutWait-now)
	}
	switch {
	case !ok:
		return cutTimer{last: t.last, cut: t.cut}
	case t.c != nil && t.at <= now+d:
		return t
	}
	return cutTimer{c: s.clock.After(d), at: now + d, last: t.last, cut: t.cut}
}

// Close stops the loop and signing attempts, and closes the store if the
// service opened it. The store's state is always on disk: closing at any
// moment is like a kill -9.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.goMu.Lock()
	s.stopping = true
	s.goMu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.events.close()
	if s.ownsSt {
		return s.st.Close()
	}
	return nil
}

// Party returns this node's party.
func (s *Service) Party() custody.Party { return s.party }

// Policy returns this node's policy.
func (s *Service) Policy() custody.Policy { return s.pol }

// Store returns the node's custody store.
func (s *Service) Store() *store.Store { return s.st }

// Now is this node's clock.
func (s *Service) Now() time.Time { return s.clock.Now() }

// recover finishes what a crash interrupted: a signing attempt in flight
// when the process died is over (its session died with it). If the whole
// signature was stored, the request is signed; otherwise the attempt is
// aborted and counted, and the request continues (or fails when attempts
// are spent) on the next step.
func (s *Service) recover() error {
	pending, err := s.st.Pending()
	if err != nil {
		return fmt.Errorf("resuming open requests: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range pending {
		if e.Progress.Record.Status != custody.StatusSigning {
			continue
		}
		id := e.Request.ID()
		res, ok := s.resultLocked(id)
		s.outcomeLocked(id, custody.Outcome{Kind: custody.OutcomeRestarted, Complete: ok && res.Complete, Coordinator: res.Coordinator})
	}
	return nil
}

// notifyLocked wakes everyone waiting for a state change.
func (s *Service) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Service) changedCh() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// spawn runs f in a goroutine Close waits for, unless closing.
func (s *Service) spawn(f func()) bool {
	s.goMu.RLock()
	defer s.goMu.RUnlock()
	if s.stopping {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// network is Options.Network and Options.Keys (nil: none).
func (s *Service) network() (Network, KeyLoader) {
	if !s.started.Load() {
		return nil, nil
	}
	return s.o.Network, s.o.Keys
}

func (s *Service) reconcileEvery() time.Duration {
	if s.pol.ReconcileEvery > 0 {
		return s.pol.ReconcileEvery
	}
	return custody.DefaultReconcileEvery
}

// peerJobDropped logs a peer's message dropped by the full work queue,
// the first of a stretch only: the log must not become the flood
// (receive counts each, by type).
func (s *Service) peerJobDropped(first bool) {
	if first {
		s.log.Warn("work queue full: dropping peers' messages until it drains; anti-entropy recovers them", "max", maxPeerJobs)
	}
}

// queue runs jobs one at a time, in order, off the transport's goroutine.
// Jobs from peers' messages are bounded (maxPeerJobs waiting): past that a
// flooding or far-ahead peer's message is dropped and counted, never
// blocking the transport, and anti-entropy (offers and queries) brings
// back whatever mattered. This node's own jobs are never dropped; they
// are bounded by its open requests (../shared/SECURITY.md scenario 19).
//
// A peer's job with a key (pushKeyed: a status report without a
// signature, keyed by peer and request) and a time (the report's) replaces
// the one with the same key still waiting, in its place, unless that one
// is newer: only a peer's newest report matters, and in a storm the
// superseded ones filled the queue.
type queue struct {
	mu       sync.Mutex
	jobs     []*job
	keyed    map[string]*job // waiting jobs with a key
	peerJobs int             // of jobs, those from peers
	sig      chan struct{}
	full     bool             // dropping, until the peers' jobs drain
	dropped  func(first bool) // counts one dropped peer job
}

type job struct {
	f    func()
	peer bool
	key  string
	at   time.Time // of a keyed job
}

const maxPeerJobs = 1024

func newQueue(dropped func(first bool)) *queue {
	return &queue{sig: make(chan struct{}, 1), dropped: dropped, keyed: map[string]*job{}}
}

// push queues the job of a peer's message; it reports false, having
// dropped it, when maxPeerJobs are already waiting.
func (q *queue) push(f func()) bool {
	queued, _ := q.pushKeyed("", time.Time{}, f)
	return queued
}

// pushKeyed is push for a job of time at that supersedes a waiting one
// with the same key (key "": none) and no later time: that one's work is
// replaced, in its place, and the queue does not grow (superseded true).
// A job older than the waiting one is itself superseded and dropped.
func (q *queue) pushKeyed(key string, at time.Time, f func()) (queued, superseded bool) {
	q.mu.Lock()
	if j, ok := q.keyed[key]; ok && key != "" {
		if !at.Before(j.at) {
			j.f, j.at = f, at
		}
		q.mu.Unlock()
		return true, true
	}
	if q.peerJobs >= maxPeerJobs {
		first := !q.full
		q.full = true
		q.mu.Unlock()
		q.dropped(first)
		return false, false
	}
	j := &job{f: f, peer: true, key: key, at: at}
	q.jobs = append(q.jobs, j)
	if key != "" {
		q.keyed[key] = j
	}
	q.peerJobs++
	q.mu.Unlock()
	q.wake()
	return true, false
}

// pushOwn queues this node's own work: never dropped.
func (q *queue) pushOwn(f func()) {
	q.mu.Lock()
	q.jobs = append(q.jobs, &job{f: f})
	q.mu.Unlock()
	q.wake()
}

func (q *queue) wake() {
	select {
	case q.sig <- struct{}{}:
	default:
	}
}

func (q *queue) run(ctx context.Context) {
	for {
		q.mu.Lock()
		var f func()
		if len(q.jobs) > 0 {
			j := q.jobs[0]
			q.jobs[0] = nil
			q.jobs = q.jobs[1:]
			f = j.f // under mu: pushKeyed may have replaced it
			if j.key != "" {
				delete(q.keyed, j.key)
			}
			if j.peer {
				q.peerJobs--
			}
			if q.peerJobs == 0 {
				q.full = false
			}
		}
		q.mu.Unlock()
		if f != nil {
			if ctx.Err() != nil {
				return
			}
			f()
			continue
		}
		select {
		case <-q.sig:
		case <-ctx.Done():
			return
		}
	}
}
