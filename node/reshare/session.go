package reshare

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/triad-custody/triad/tss"
)

// Step 3 on one node: its local sessions (one or two), the route they
// share, and the hand-off to the commit exchange (commit.go).

// inboxSize bounds a local session's inbox, as the node's router bounds
// a route's.
const inboxSize = 64

// job is one node's part of one reshare: its local sessions (one or two),
// their shared route, and the commit exchange.
type job struct {
	e        *Engine
	p        Proposal
	body     body
	rt       Route
	step     func(string, string)
	deadline time.Time
	sessions map[string]*tss.Session // by participant ID
	inboxes  map[string]chan tss.Inbound
	commit   *exchange

	mu   sync.Mutex
	sent map[string]bool
}

// prepare pins the new peer, builds this node's sessions and opens the
// route. The caller closes the job.
func (e *Engine) prepare(p Proposal, step func(string, string)) (*job, error) {
	st := e.state()
	if st == nil {
		return nil, ErrRecoveryOff
	}
	n := e.n
	var b body
	if err := json.Unmarshal(p.Payload, &b); err != nil {
		return nil, fmt.Errorf("node: reshare payload: %w", err)
	}
	o := b.Order
	if err := st.useNonces(o, n.Now()); err != nil {
		return nil, err
	}
	if o.Spec.NewPeerID != "" && o.Spec.Replace != n.Party() && st.opt.Pin != nil {
		if err := st.opt.Pin(o.Spec.Replace, o.Spec.NewPeerID, false); err != nil {
			return nil, fmt.Errorf("node: pinning the replacement of %s: %w", o.Spec.Replace, err)
		}
		step("replacement peer pinned", o.Spec.Replace+" = "+o.Spec.NewPeerID)
	}
	timeout := st.opt.Timeout
	j := &job{e: e, p: p, body: b, step: step, deadline: n.Now().Add(timeout),
		sessions: map[string]*tss.Session{}, inboxes: map[string]chan tss.Inbound{}, sent: map[string]bool{}}
	if err := j.build(timeout); err != nil {
		return nil, err
	}
	for id := range j.sessions {
		j.inboxes[id] = make(chan tss.Inbound, inboxSize)
	}
	j.commit = st.openExchange(p.SessionID, n.Parties())
	rt, err := n.OpenRoute(p.SessionID)
	if err != nil {
		st.closeExchange(p.SessionID)
		return nil, err
	}
	j.rt = rt
	return j, nil
}

// build makes this node's sessions: its old participant's (unless it is
// the replaced party) and its new participant's, with fresh pre-params.
func (j *job) build(timeout time.Duration) error {
	n, p, o := j.e.n, j.p, j.body.Order
	newC := newCommittee(n.Parties(), j.body.Generation)
	pub, _ := hex.DecodeString(o.Spec.PublicKey)
	base := tss.ReshareConfig{KeyID: p.KeyID, OldParties: j.body.OldParties, OldThreshold: p.Threshold,
		NewParties: newC, NewThreshold: p.Threshold, PublicKey: pub}
	cfg := func(self tss.Party) tss.Config {
		return tss.Config{SessionID: p.SessionID, Self: self, Deadline: j.deadline, Now: n.Now}
	}
	if o.Spec.Replace != n.Party() {
		share, err := n.Keys().Load(n.Context(), p.KeyID)
		if err != nil {
			return err
		}
		c := base
		c.Config, c.Share = cfg(share.Self), share
		s, err := tss.NewReshareSession(c)
		if err != nil {
			return err
		}
		j.sessions[share.Self.ID] = s
	}
	ctx, cancel := context.WithTimeout(n.Context(), timeout/2)
	defer cancel()
	pp, err := n.PreParams(ctx)
	if err != nil {
		return fmt.Errorf("node: no pre-params ready for the new share: %w", err)
	}
	for _, q := range newC {
		if q.Node == n.Party() {
			c := base
			c.Config, c.PreParams = cfg(q), pp
			s, err := tss.NewReshareSession(c)
			if err != nil {
				return err
			}
			j.sessions[q.ID] = s
		}
	}
	return nil
}

func (j *job) close() {
	j.e.n.CloseRoute(j.p.SessionID)
	if st := j.e.state(); st != nil {
		st.closeExchange(j.p.SessionID)
	}
}

// run drives the local sessions to the end, seals the new share as
// pending, and runs the commit exchange.
func (j *job) run(ctx context.Context) error {
	n := j.e.n
	ctx, cancel := context.WithDeadline(ctx, j.deadline)
	defer cancel()
	go j.demux(ctx, cancel)
	j.step("session started", fmt.Sprintf("%d local participant(s), session %s", len(j.sessions), j.p.SessionID.Short()))
	type out struct {
		id  string
		err error
	}
	done := make(chan out, len(j.sessions))
	for id, s := range j.sessions {
		go func() {
			done <- out{id, n.RunSession(ctx, s, &conn{j: j, inbox: j.inboxes[id]})}
		}()
	}
	var first error
	for range j.sessions {
		o := <-done
		if o.err != nil && first == nil {
			first = j.blame(o.id, o.err)
			n.RecordAbort(j.sessions[o.id], j.p.KeyID, first)
			cancel() // the other local session cannot succeed alone
		}
	}
	if first != nil {
		j.step("aborted", first.Error())
		return fmt.Errorf("%w: %v", ErrAborted, first)
	}
	var share *tss.KeyShare
	for _, s := range j.sessions {
		if k, err := s.ReshareResult(); err != nil {
			return err
		} else if k != nil {
			share = k
		}
	}
	if share == nil {
		return fmt.Errorf("%w: no new share", ErrAborted)
	}
	j.step("session done", "new share computed")
	if err := n.Keys().SavePending(ctx, share); err != nil {
		j.step("aborted", err.Error())
		return fmt.Errorf("%w: %v", ErrAborted, err)
	}
	j.step("new share sealed (pending)", "old share still in force")
	return j.decide(ctx, share)
}

// blame returns err, the first failure of local session id, or, when it
// is a timeout that blames nobody, the other local session's timeout. The
// sessions share one deadline: an old participant waiting only for the
// new participants' acknowledgements blames nobody while its node's new
// participant waits for the party that fell silent (a cut at round 1).
func (j *job) blame(id string, err error) error {
	if !errors.Is(err, tss.ErrTimeout) || len(tss.Culprits(err)) > 0 {
		return err
	}
	for other, s := range j.sessions {
		if other == id {
			continue
		}
		if e := s.Timeout(); e != nil && len(tss.Culprits(e)) > 0 {
			return e
		}
	}
	return err
}

// demux hands each inbound envelope to every local session it names.
func (j *job) demux(ctx context.Context, cancel context.CancelFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-j.rt.Declines:
			j.step("declined", d.From+": "+d.Reason)
			for _, s := range j.sessions {
				s.Abort(j.e.n.Declined(d), d.From)
			}
			cancel()
			return
		case in := <-j.rt.Inbox:
			j.dispatch(in)
		}
	}
}

func (j *job) dispatch(in tss.Inbound) {
	for _, to := range in.Env.To {
		if ch, ok := j.inboxes[to]; ok && to != in.Env.From {
			select {
			case ch <- in:
			default:
				j.e.n.Count("inbox_overflow")
			}
		}
	}
}

// conn sends a session's envelopes: one frame per node (a broadcast names
// several participants on one node), and envelopes for this node's other
// participant straight to it.
type conn struct {
	j     *job
	inbox chan tss.Inbound
}

func (c *conn) Inbox() <-chan tss.Inbound { return c.inbox }

func (c *conn) Send(ctx context.Context, toNode string, env tss.Envelope) error {
	j := c.j
	h := sha256.New()
	h.Write([]byte(toNode + "\x00" + env.From + "\x00" + env.Type + "\x00" + strings.Join(env.To, ",") + "\x00"))
	h.Write(env.Payload)
	k := string(h.Sum(nil))
	j.mu.Lock()
	dup := j.sent[k]
	j.sent[k] = true
	j.mu.Unlock()
	if dup {
		return nil
	}
	if toNode == j.e.n.Party() {
		j.dispatch(tss.Inbound{From: toNode, Env: env})
		return nil
	}
	return j.e.n.SendEnvelope(ctx, toNode, env)
}
