package holdings

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/node"
)

// ViewTopic is the node application topic on which nodes ask each other
// for their holdings views.
const ViewTopic = "triad/holdings-view/v1"

// KindReconcile is the audit record of a holdings reconciliation; its
// payload is the digest of the Report.
const KindReconcile = "holdings_reconcile"

// maxViewLeaves bounds the leaves a node sends with its view (frames are
// at most 1 MiB); a larger view is sent as heads, root and count only,
// and Compare can then name the node but not the leaf.
const maxViewLeaves = 4000

// Messenger is the node's application messaging; *node.Node implements it.
type Messenger interface {
	HandleApp(topic string, h func(from string, payload []byte))
	SendApp(ctx context.Context, to, topic string, payload []byte) error
	Peers() []string
}

// Appender is the node's audit chain (*audit.Chain).
type Appender interface {
	Append(e audit.Entry) (audit.Record, error)
}

// viewMsg asks for a view (Ask, and Pin: the seq of the asked node's audit
// chain head pinned at the last reconciliation) or answers one (Reply,
// View; or Error: the node could not read its own view).
type viewMsg struct {
	Ask   string    `json:"ask,omitempty"`
	Pin   uint64    `json:"pin,omitempty"`
	Reply string    `json:"reply,omitempty"`
	View  *NodeView `json:"view,omitempty"`
	Error string    `json:"error,omitempty"`
	// Outcome is the regulator's word that a reconciliation disagreed:
	// every node records it as an incident.
	Outcome string `json:"outcome,omitempty"`
}

// Incidents records a disagreement as an incident; *node.Node does.
type Incidents interface {
	ReportIncident(inc node.Incident)
}

// Report is the outcome of one reconciliation of the nodes' holdings views.
type Report struct {
	Time        time.Time    `json:"time"`
	Views       []NodeView   `json:"views"` // leaves dropped: heads, root and count
	Missing     []string     `json:"missing,omitempty"`
	Failed      []PeerError  `json:"failed,omitempty"`
	Differences []Difference `json:"differences,omitempty"`
}

// PeerError is a node that answered that it could not read its own view.
type PeerError struct {
	Party string `json:"party"`
	Error string `json:"error"`
}

func (e PeerError) String() string { return e.Party + ": " + e.Error }

// OK reports whether every node answered with its view and all views
// (and audit chains) agree.
func (r Report) OK() bool { return len(r.Missing)+len(r.Failed)+len(r.Differences) == 0 }

// reply is a peer's answer: its view, or why it has none.
type reply struct {
	party string
	view  *NodeView
	err   string
}

// Reconciler answers peers' requests for this node's holdings view and,
// on the regulator's node, reconciles the three views (Reconcile).
type Reconciler struct {
	Party string
	View  View
	Net   Messenger
	// Audit is this node's audit chain: each reconciliation is recorded on
	// it, and, when it is an AuditChain (*audit.Chain is), its head is read
	// with the holdings view and compared (CompareAudit). nil: neither.
	Audit Appender
	// Incidents, when set, records a disagreement at this node, and the
	// regulator's outcome at the others.
	Incidents Incidents
	Now       func() time.Time
	Log       *slog.Logger

	mu      sync.Mutex
	waiting map[string]chan reply
	busy    bool
	pinned  map[string]audit.Head // each node's audit head at the last reconciliation that found it intact
	metrics struct {
		once                  sync.Once
		runs                  prometheus.Counter
		differences, lastTime prometheus.Gauge
	}
}

// Collectors are the reconciliation's metrics, for the node's /metrics:
// triad_holdings_reconciliations_total, triad_holdings_reconcile_differences
// (nodes missing plus differences in the last report: an alert above 0)
// and triad_holdings_reconcile_time_seconds (when the last one ran).
func (r *Reconciler) Collectors() []prometheus.Collector {
	m := &r.metrics
	m.once.Do(func() {
		m.runs = prometheus.NewCounter(prometheus.CounterOpts{Name: "triad_holdings_reconciliations_total",
			Help: "Holdings reconciliations this node has run."})
		m.differences = prometheus.NewGauge(prometheus.GaugeOpts{Name: "triad_holdings_reconcile_differences",
			Help: "Nodes missing plus differences found by the last holdings reconciliation (0: the views agree)."})
		m.lastTime = prometheus.NewGauge(prometheus.GaugeOpts{Name: "triad_holdings_reconcile_time_seconds",
			Help: "Unix time of the last holdings reconciliation."})
	})
	return []prometheus.Collector{m.runs, m.differences, m.lastTime}
}

// Start registers the view handler on the node.
func (r *Reconciler) Start() {
	r.mu.Lock()
	r.waiting = map[string]chan reply{}
	r.mu.Unlock()
	r.Net.HandleApp(ViewTopic, r.receive)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// receive runs on the transport's goroutine: it answers an ask from a
// goroutine of its own (one at a time: a second ask meanwhile is dropped)
// and hands a reply to the reconciliation waiting for it.
func (r *Reconciler) receive(from string, b []byte) {
	var m viewMsg
	if json.Unmarshal(b, &m) != nil {
		return
	}
	switch {
	case m.Ask != "" && len(m.Ask) <= 64:
		r.mu.Lock()
		if r.busy {
			r.mu.Unlock()
			return
		}
		r.busy = true
		r.mu.Unlock()
		go r.answer(from, m.Ask, m.Pin)
	case m.Outcome != "" && from == string(custody.Regulator) && r.Incidents != nil:
		r.Incidents.ReportIncident(node.Incident{Protocol: "holdings", Error: clipTo(m.Outcome, maxOutcome)})
	case m.Reply != "" && (m.View != nil && m.View.Party == from || m.View == nil && m.Error != ""):
		r.mu.Lock()
		ch := r.waiting[m.Reply]
		r.mu.Unlock()
		if ch != nil {
			select {
			case ch <- reply{party: from, view: m.View, err: clipTo(m.Error, maxOutcome)}:
			default:
			}
		}
	}
}

func (r *Reconciler) answer(to, nonce string, pin uint64) {
	defer func() { r.mu.Lock(); r.busy = false; r.mu.Unlock() }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := r.own(ctx, pin)
	msg := viewMsg{Reply: nonce, View: &v}
	if err != nil {
		msg = viewMsg{Reply: nonce, Error: err.Error()}
	}
	b, _ := json.Marshal(msg)
	if err := r.Net.SendApp(ctx, to, ViewTopic, b); err != nil {
		r.log().Warn("holdings view not sent", "peer", to, "err", err)
	}
}

// own is this node's view, its leaves dropped past maxViewLeaves, with
// its audit chain head (and its record at seq pin) read after it.
func (r *Reconciler) own(ctx context.Context, pin uint64) (NodeView, error) {
	leaves, heads, err := r.View.Read(ctx)
	if err != nil {
		return NodeView{}, err
	}
	v, err := ViewOf(r.Party, leaves, heads)
	if len(v.Leaves) > maxViewLeaves {
		v.Leaves = nil
	}
	if c, ok := r.Audit.(AuditChain); ok {
		v.Audit = ReadAuditHead(c, pin)
	}
	return v, err
}

// Reconcile asks every peer for its view, reads its own and compares them
// (Compare); a peer that has not answered when ctx ends is Missing. If the
// views differ only in their chain heads (a block arrived between the
// reads) it tries again, at most three times. The report is recorded on
// the audit chain; a disagreement or a missing peer is logged as an
// incident.
func (r *Reconciler) Reconcile(ctx context.Context) (Report, error) {
	var rep Report
	for try := 0; try < maxReads; try++ {
		var err error
		rep, err = r.once(ctx)
		if err != nil {
			return rep, err
		}
		if !slices.ContainsFunc(rep.Differences, func(d Difference) bool { return d.What != "chain" }) && len(rep.Differences) > 0 && len(rep.Missing) == 0 {
			continue // only chain heads differ: read again
		}
		break
	}
	r.Collectors() // makes the metrics if no one asked for them yet
	r.metrics.runs.Inc()
	r.metrics.differences.Set(float64(len(rep.Missing) + len(rep.Failed) + len(rep.Differences)))
	r.metrics.lastTime.Set(float64(rep.Time.Unix()))
	b, _ := json.Marshal(rep)
	if r.Audit != nil {
		if _, err := r.Audit.Append(audit.Entry{Time: rep.Time, Kind: KindReconcile, Party: r.Party, Payload: audit.Digest(b)}); err != nil {
			return rep, fmt.Errorf("recording the holdings reconciliation: %w", err)
		}
	}
	if !rep.OK() {
		r.log().Error("holdings reconciliation: the views differ", "missing", rep.Missing, "failed", fmt.Sprint(rep.Failed), "differences", fmt.Sprint(rep.Differences))
		r.incident(ctx, rep)
	}
	return rep, nil
}

// incident records a disagreement here and tells the peers, which record
// it too.
func (r *Reconciler) incident(ctx context.Context, rep Report) {
	what := clipTo(fmt.Sprintf("holdings reconciliation at %s: missing %v, failed %v, differences %v",
		rep.Time.UTC().Format(time.RFC3339), rep.Missing, rep.Failed, rep.Differences), maxOutcome)
	if r.Incidents != nil {
		r.Incidents.ReportIncident(node.Incident{Time: rep.Time, Protocol: "holdings", Error: what})
	}
	// The reconciliation's own wait may be used up (a missing peer).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	b, _ := json.Marshal(viewMsg{Outcome: what})
	for _, p := range r.Net.Peers() {
		if !slices.Contains(rep.Missing, p) {
			if err := r.Net.SendApp(ctx, p, ViewTopic, b); err != nil {
				r.log().Warn("telling a peer of a holdings disagreement", "peer", p, "err", err)
			}
		}
	}
}

func (r *Reconciler) once(ctx context.Context) (Report, error) {
	nb := make([]byte, 16)
	rand.Read(nb)
	nonce := hex.EncodeToString(nb)
	ch := make(chan reply, 8)
	r.mu.Lock()
	if r.waiting == nil { // Start not called: no reply can arrive, the peers are missing
		r.waiting = map[string]chan reply{}
	}
	r.waiting[nonce] = ch
	pinned := maps.Clone(r.pinned)
	r.mu.Unlock()
	defer func() { r.mu.Lock(); delete(r.waiting, nonce); r.mu.Unlock() }()
	peers := r.Net.Peers()
	for _, p := range peers {
		ask, _ := json.Marshal(viewMsg{Ask: nonce, Pin: pinned[p].Seq})
		if err := r.Net.SendApp(ctx, p, ViewTopic, ask); err != nil {
			r.log().Warn("asking for a holdings view", "peer", p, "err", err)
		}
	}
	mine, err := r.own(ctx, pinned[r.Party].Seq)
	if err != nil {
		return Report{}, fmt.Errorf("this node's own holdings view: %w", err)
	}
	views, failed := r.collect(ctx, ch, peers)
	views = append(views, mine)
	rep := Report{Time: r.now(), Differences: Compare(views), Failed: failed}
	if _, ok := r.Audit.(AuditChain); ok {
		audits := CompareAudit(views, pinned)
		rep.Differences = append(rep.Differences, audits...)
		r.pin(views, audits)
	}
	for _, p := range peers {
		if !slices.ContainsFunc(views, func(v NodeView) bool { return v.Party == p }) &&
			!slices.ContainsFunc(failed, func(f PeerError) bool { return f.Party == p }) {
			rep.Missing = append(rep.Missing, p)
		}
	}
	slices.SortFunc(views, func(a, b NodeView) int { return cmpString(a.Party, b.Party) })
	for _, v := range views {
		v.Count, v.Leaves = uint64(len(v.Leaves))+v.Count, nil
		rep.Views = append(rep.Views, v)
	}
	return rep, nil
}

// collect takes the peers' answers until each has answered once or ctx
// ends: their views, and the errors of those that could not read theirs.
func (r *Reconciler) collect(ctx context.Context, ch <-chan reply, peers []string) ([]NodeView, []PeerError) {
	var views []NodeView
	var failed []PeerError
	got := map[string]bool{}
	for len(got) < len(peers) {
		select {
		case a := <-ch:
			if !slices.Contains(peers, a.party) || got[a.party] {
				continue
			}
			got[a.party] = true
			if a.view != nil {
				views = append(views, *a.view)
			} else {
				failed = append(failed, PeerError{Party: a.party, Error: a.err})
			}
		case <-ctx.Done():
			return views, failed
		}
	}
	return views, failed
}

// pin keeps each node's audit head whose chain was found intact, for the
// next reconciliation to check that its past is unchanged; a node named
// keeps its older pin, so it stays named until its chain is mended.
func (r *Reconciler) pin(views []NodeView, audits []Difference) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pinned == nil {
		r.pinned = map[string]audit.Head{}
	}
	for _, v := range views {
		if v.Audit != nil && !slices.ContainsFunc(audits, func(d Difference) bool { return d.Party == v.Party }) {
			r.pinned[v.Party] = v.Audit.Head
		}
	}
}

// maxOutcome bounds the text of a disagreement incident.
const maxOutcome = 1000

func clipTo(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// maxLastScan bounds the audit records lastRun reads back from the head.
const maxLastScan = 100_000

// lastRun is the time of the latest reconciliation on the audit chain
// (zero: none, or no chain to read), so that Run catches up one missed
// while the node was down.
func (r *Reconciler) lastRun() time.Time {
	c, ok := r.Audit.(interface {
		Head() (audit.Head, error)
		Records(from uint64, limit int) ([]audit.Record, error)
	})
	if !ok {
		return time.Time{}
	}
	h, err := c.Head()
	if err != nil {
		return time.Time{}
	}
	const page = 1000
	for end := h.Seq + 1; end > 0 && h.Seq+1-end < maxLastScan; {
		from := uint64(0)
		if end > page {
			from = end - page
		}
		recs, err := c.Records(from, int(end-from))
		if err != nil {
			return time.Time{}
		}
		for i := len(recs) - 1; i >= 0; i-- {
			if recs[i].Kind == KindReconcile && recs[i].Party == r.Party {
				return recs[i].Time
			}
		}
		end = from
	}
	return time.Time{}
}

// Run reconciles at every multiple of every (UTC; the policy's
// reconcile_every, default 00:00 and 12:00), each with wait to collect the
// peers' views, until ctx ends (Schedule); one missed while the node was
// down (by its audit chain) is caught up a minute after the start.
func (r *Reconciler) Run(ctx context.Context, every, wait time.Duration, after func(time.Duration) <-chan time.Time) {
	Schedule(ctx, every, time.Minute, r.now, after, r.lastRun(), func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		rep, err := r.Reconcile(rctx)
		if err == nil {
			r.log().Info("holdings reconciled", "ok", rep.OK(), "missing", rep.Missing, "differences", len(rep.Differences))
		}
		return err
	})
}
