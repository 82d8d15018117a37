package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/p2p"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/tss"
)

// Authorizer is each node's own decision to join a signing session. The
// node asks it for every proposal, its own included; it never takes
// another node's word. Policy (package custody) implements it.
type Authorizer interface {
	AuthorizeSign(ctx context.Context, keyID string, p *Proposal) error
}

// AllowAll authorizes every proposal: for tests of the signing layer only.
type AllowAll struct{}

// AuthorizeSign allows everything.
func (AllowAll) AuthorizeSign(context.Context, string, *Proposal) error { return nil }

// Options assembles a Node. Transport, Keys and Pool are required.
type Options struct {
	Party string
	// Parties are all three parties' names, this one included.
	Parties    []string
	Transport  p2p.Transport
	Keys       *keystore.Store
	Pool       *tss.Pool
	Sealer     hsm.Sealer
	Authorizer Authorizer
	// KeygenRule is this node's configuration (policy.keys) asked about a
	// keygen of keyID: its role, whether it needs two parties' operator
	// approvals, and false for a key it does not list. The node proposes
	// and joins keygen of listed keys only; nil lists none.
	// custody.Policy.KeygenRule implements it.
	KeygenRule func(keyID string) (role string, approvals, ok bool)
	// SignTimeout is one signing attempt's deadline; KeygenTimeout a DKG's.
	SignTimeout   time.Duration
	KeygenTimeout time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
	// IncidentsFile keeps the recent incidents across restarts
	// (incidents.go); empty keeps them in memory only.
	IncidentsFile string
	// ProtocolMin and ProtocolMax bound the peer protocol versions this
	// node speaks (versions.go); zero: all it knows.
	ProtocolMin, ProtocolMax int
}

// Node is one party's Triad daemon core.
type Node struct {
	opt    Options
	t      p2p.Transport
	r      *router
	ver    *versions
	counts *counters
	log    *slog.Logger

	mu        sync.Mutex
	incidents []Incident
	apps      map[string]func(from string, payload []byte)
	rsh       *reshare.Engine // resharing (node/reshare), enabled by EnableRecovery
	wg        sync.WaitGroup
	// proposalSlots bounds proposals handled at once, openProposals per
	// peer (proposals.go).
	proposalSlots chan struct{}
	openProposals map[string]int
	busyReported  map[string]bool
	// joins are the sessions joined on a peer's proposal, by session ID.
	joins map[tss.SessionID]*joined
	// keygensDone are the keygens joined here whose share is saved, while
	// their proposer may still withdraw them (keygen_withdraw.go).
	keygensDone map[tss.SessionID]keygenDone
	// committed are the keygens this node has committed to: no
	// withdrawal ends them (keygen_commit.go).
	committed map[tss.SessionID]commitRecord
	// incidentCh is closed at the next incident (IncidentsChanged).
	incidentCh chan struct{}
	ctx        context.Context
	cancel     context.CancelFunc
}

// Incident records an aborted session: every abort is an incident.
type Incident struct {
	Time      time.Time `json:"time"`
	SessionID string    `json:"session_id"`
	Protocol  string    `json:"protocol"`
	KeyID     string    `json:"key_id"`
	Culprits  []string  `json:"culprits"`
	Error     string    `json:"error"`
}

const (
	maxIncidents           = 256
	maxConcurrentProposals = 32
)

// New wires a node. Given an Authorizer it handles frames at once;
// without one it handles none until Serve gives it its authorizer (the
// daemon's, the custody service, is made with this node).
func New(opt Options) (*Node, error) {
	if opt.Transport == nil || opt.Keys == nil || opt.Pool == nil || opt.Party == "" {
		return nil, errors.New("node: party, transport, key store and pre-params pool are required")
	}
	if opt.SignTimeout <= 0 {
		opt.SignTimeout = 30 * time.Second
	}
	if opt.KeygenTimeout <= 0 {
		opt.KeygenTimeout = 5 * time.Minute
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	parties := append([]string(nil), opt.Parties...)
	sort.Strings(parties)
	opt.Parties = parties
	ver, err := newVersions(opt.ProtocolMin, opt.ProtocolMax)
	if err != nil {
		return nil, err
	}
	c := newCounters()
	n := &Node{opt: opt, t: opt.Transport, r: newRouter(c), ver: ver, counts: c, log: opt.Logger.With("party", opt.Party),
		proposalSlots: make(chan struct{}, maxConcurrentProposals), openProposals: map[string]int{},
		busyReported: map[string]bool{}, joins: map[tss.SessionID]*joined{},
		keygensDone: map[tss.SessionID]keygenDone{}, committed: map[tss.SessionID]commitRecord{}, incidentCh: make(chan struct{})}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.rsh = reshare.New(reshareHost{n})
	n.loadIncidents()
	if opt.Authorizer != nil {
		n.t.SetHandler(n.handle)
	}
	return n, nil
}

// Serve begins handling frames, a node made without an authorizer: from
// now on every signing proposal, its own included, is asked of a.
func (n *Node) Serve(a Authorizer) error {
	if a == nil {
		return errors.New("node: an authorizer is required")
	}
	n.mu.Lock()
	if n.opt.Authorizer != nil {
		n.mu.Unlock()
		return errors.New("node: already serving")
	}
	n.opt.Authorizer = a
	n.mu.Unlock()
	n.t.SetHandler(n.handle)
	return nil
}

// authorizer is the node's authorizer; an error before Serve.
func (n *Node) authorizer() (Authorizer, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.opt.Authorizer == nil {
		return nil, errors.New("node: not serving yet: no authorizer")
	}
	return n.opt.Authorizer, nil
}

// HandleApp registers the handler of an application topic. The handler
// runs on the transport's goroutine: it must not block for long. from is
// the authenticated sending party.
func (n *Node) HandleApp(topic string, h func(from string, payload []byte)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.apps == nil {
		n.apps = map[string]func(string, []byte){}
	}
	n.apps[topic] = h
}

// SendApp sends an application message to party to.
func (n *Node) SendApp(ctx context.Context, to, topic string, payload []byte) error {
	if !json.Valid(payload) {
		return fmt.Errorf("node: app payload for %s is not JSON", topic)
	}
	return n.send(ctx, to, frame{Kind: kindApp, App: &AppMessage{Topic: topic, Payload: payload}})
}

// Peers returns the other parties' names.
func (n *Node) Peers() []string {
	var ps []string
	for _, p := range n.opt.Parties {
		if p != n.opt.Party {
			ps = append(ps, p)
		}
	}
	return ps
}

// Connected reports whether party p is reachable now.
func (n *Node) Connected(p string) bool { return n.t.Connected(p) }

// Close stops every session this node runs and waits for them.
func (n *Node) Close() error {
	n.cancel()
	n.wg.Wait()
	return nil
}

// Party returns this node's party.
func (n *Node) Party() string { return n.opt.Party }

// Counters returns the node's event counts: rejected envelopes by reason,
// aborts, declines.
func (n *Node) Counters() map[string]int { return n.counts.snapshot() }

// Incidents returns the recent aborted sessions, oldest first.
func (n *Node) Incidents() []Incident {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Incident(nil), n.incidents...)
}

// IncidentsChanged returns a channel that is closed when the next
// incident is recorded (a waiter re-reads Incidents, then asks again).
func (n *Node) IncidentsChanged() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.incidentCh
}

func (n *Node) handle(from string, b []byte) {
	f, ok := n.receive(from, b) // decoded, version-checked; hellos handled
	if !ok {
		return
	}
	switch f.Kind {
	case kindEnvelope:
		n.r.deliver(from, *f.Envelope)
	case kindDecline:
		n.r.decline(from, *f.Decline)
	case kindSaved:
		n.r.saved(from, *f.Saved)
	case kindWithdraw:
		n.withdrawn(from, *f.Withdraw)
	case kindCommit:
		n.r.commit(from, *f.Commit)
	case kindApp:
		n.mu.Lock()
		h := n.apps[f.App.Topic]
		n.mu.Unlock()
		if h == nil {
			n.counts.add("app_unknown_topic")
			return
		}
		h(from, f.App.Payload)
	case kindPropose:
		// Bounded per peer and in all: a flood of proposals from a pinned
		// peer cannot spawn unbounded work nor crowd out the other peers;
		// the excess is declined as busy, and the flooder named.
		if ok, reason := n.admitProposal(from); !ok {
			n.declineBusy(from, f.Proposal.SessionID, reason)
			return
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer n.releaseProposal(from)
			n.onProposal(from, f.Proposal)
		}()
	}
}

func (n *Node) send(ctx context.Context, to string, f frame) error {
	b, err := n.encodeFor(ctx, to, f) // in the version to speaks
	if err != nil {
		return err
	}
	return n.t.Send(ctx, to, b)
}

// onProposal decides, by this node's own checks, whether to join.
func (n *Node) onProposal(from string, p *Proposal) {
	log := n.log.With("session", p.SessionID.Short(), "peer", from, "protocol", string(p.Protocol), "key", p.KeyID)
	decline := func(reason string) {
		n.counts.add("declined_" + string(p.Protocol))
		log.Warn("declined proposal", "reason", reason)
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		defer cancel()
		n.send(ctx, from, frame{Kind: kindDecline, Decline: &Decline{SessionID: p.SessionID, Reason: reason}})
	}
	if err := p.validate(); err != nil {
		n.counts.add("malformed_proposal")
		decline("malformed proposal: " + err.Error())
		return
	}
	if !contains(p.Participants, from) || !contains(p.Participants, n.opt.Party) {
		decline("proposer or this node is not a participant")
		return
	}
	if n.r.used(p.SessionID) {
		n.counts.add("duplicate_proposal") // a copy or a replay: never a second run
		return
	}
	if p.Protocol == tss.Reshare { // two sessions per node and a commit phase: node/reshare
		n.rsh.Join(from, reshareProposal(p), decline)
		return
	}
	if p.Protocol == tss.Keygen {
		if err := n.checkKeygenProposal(p); err != nil {
			decline(err.Error())
			return
		}
	}
	ctx, leave, err := n.join(from, p)
	if errors.Is(err, ErrSessionUsed) {
		n.counts.add("duplicate_proposal")
		return
	}
	if err != nil {
		decline(err.Error())
		return
	}
	defer leave()
	if ready, running := n.opt.Pool.Ready(); p.Protocol == tss.Keygen && ready == 0 && running == 0 {
		decline(fmt.Sprintf("%v on %s, none being generated", ErrNoPreParams, n.opt.Party))
		return
	}
	var s *tss.Session
	switch p.Protocol {
	case tss.Keygen:
		s, err = n.keygenSession(ctx, p)
	case tss.Sign:
		s, err = n.signSession(p, n.opt.SignTimeout)
	}
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrWithdrawn) {
			err = cause
		}
		decline(err.Error())
		return
	}
	n.joinedSession(p.SessionID, s)
	rt, err := n.r.open(p.SessionID)
	if errors.Is(err, ErrSessionUsed) {
		n.counts.add("duplicate_proposal")
		return
	}
	defer n.r.close(p.SessionID)
	err = n.run(ctx, s, rt, p)
	log.Info("session ended", "err", err)
	if p.Protocol == tss.Keygen && err == nil {
		err = n.persistKeygen(s, rt, p, from)
	}
	if p.Protocol == tss.Keygen && err == nil && n.ver.max < commitVersion {
		err = n.keygenSaved(ctx, from, p, s) // version 2: keygen_withdraw.go
	}
	if p.Protocol == tss.Keygen {
		ack := &Saved{SessionID: p.SessionID}
		if err != nil {
			ack.Error = err.Error()
		}
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		defer cancel()
		n.send(ctx, from, frame{Kind: kindSaved, Saved: ack})
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// run drives a session (a keygen's share is persisted by persistKeygen).
func (n *Node) run(ctx context.Context, s *tss.Session, rt *route, p *Proposal) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case d := <-rt.declines:
			s.Abort(declinedErr(d), d.From)
			cancel()
		case <-ctx.Done():
		}
	}()
	err := tss.Run(ctx, s, &sessionConn{n: n, inbox: rt.inbox}, n.rejected(s))
	if err != nil {
		if n.ctx.Err() != nil {
			n.log.Info("session stopped: node shutting down", "session", s.ID().Short())
			return err
		}
		n.recordAbort(s, p.KeyID, err)
		return err
	}
	return nil
}

// ErrDeclined: a participant refused to join.
var ErrDeclined = errors.New("node: participant declined")

// declinedErr is the error a session aborts with when d declined it.
func declinedErr(d declined) error {
	return fmt.Errorf("%w: %s: %s", ErrDeclined, d.From, d.Reason)
}

// rejected counts and logs an envelope s refused.
func (n *Node) rejected(s *tss.Session) tss.Observer {
	return func(in tss.Inbound, err error) {
		n.counts.add("rejected_" + reason(err))
		n.log.Warn("rejected envelope", "session", s.ID().Short(), "peer", in.From, "err", err)
	}
}

func (n *Node) recordAbort(s *tss.Session, keyID string, err error) {
	n.counts.add("aborted_" + string(s.Protocol()))
	inc := Incident{Time: n.opt.Now(), SessionID: s.ID().String(), Protocol: string(s.Protocol()), KeyID: keyID,
		Culprits: tss.Culprits(err), Error: err.Error()}
	n.log.Error("session aborted", "session", s.ID().Short(), "culprits", inc.Culprits, "err", err)
	n.mu.Lock()
	n.addIncidentLocked(inc)
	n.mu.Unlock()
}

// addIncidentLocked keeps inc among the recent incidents; n.mu is held.
func (n *Node) addIncidentLocked(inc Incident) {
	if n.incidentCh != nil {
		close(n.incidentCh)
	}
	n.incidentCh = make(chan struct{})
	n.incidents = append(n.incidents, inc)
	if len(n.incidents) > maxIncidents {
		n.incidents = n.incidents[1:]
	}
	n.saveIncidentsLocked()
}

// reason names a rejection for the counters.
func reason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{tss.ErrWrongSession, "wrong_session"}, {tss.ErrSpoofedSender, "spoofed_sender"},
		{tss.ErrNotParticipant, "not_participant"}, {tss.ErrWrongType, "wrong_type"},
		{tss.ErrWrongRound, "wrong_round"}, {tss.ErrWrongBroadcast, "wrong_broadcast"},
		{tss.ErrNotForMe, "not_for_me"}, {tss.ErrDuplicate, "duplicate"}, {tss.ErrLate, "late"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}

// sessionConn adapts the transport and a route to tss.Conn.
type sessionConn struct {
	n     *Node
	inbox chan tss.Inbound
}

func (c *sessionConn) Inbox() <-chan tss.Inbound { return c.inbox }

func (c *sessionConn) Send(ctx context.Context, to string, env tss.Envelope) error {
	return c.n.send(ctx, to, frame{Kind: kindEnvelope, Envelope: &env})
}
