package node

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

// Running one node's part of a reshare: its local sessions, the route
// they share, and the hand-off to the commit exchange (reshare_commit.go).

// reshareJob is one node's part of one reshare: its local sessions (one
// or two), their shared route, and the commit exchange.
type reshareJob struct {
	n        *Node
	p        *Proposal
	body     reshareBody
	rt       *route
	step     func(string, string)
	deadline time.Time
	sessions map[string]*tss.Session // by participant ID
	inboxes  map[string]chan tss.Inbound
	commit   *commitState

	mu   sync.Mutex
	sent map[string]bool
}

// prepareReshare pins the new peer, builds this node's sessions and opens
// the route. The caller closes the job.
func (n *Node) prepareReshare(p *Proposal, step func(string, string)) (*reshareJob, error) {
	rs := n.recovery()
	if rs == nil {
		return nil, ErrRecoveryOff
	}
	var body reshareBody
	if err := json.Unmarshal(p.Payload, &body); err != nil {
		return nil, fmt.Errorf("node: reshare payload: %w", err)
	}
	o := body.Order
	if err := rs.useNonces(o, n.opt.Now()); err != nil {
		return nil, err
	}
	if o.Spec.NewPeerID != "" && o.Spec.Replace != n.opt.Party && rs.opt.Pin != nil {
		if err := rs.opt.Pin(o.Spec.Replace, o.Spec.NewPeerID, false); err != nil {
			return nil, fmt.Errorf("node: pinning the replacement of %s: %w", o.Spec.Replace, err)
		}
		step("replacement peer pinned", o.Spec.Replace+" = "+o.Spec.NewPeerID)
	}
	timeout := rs.opt.Timeout
	if timeout <= 0 {
		timeout = n.opt.KeygenTimeout
	}
	j := &reshareJob{n: n, p: p, body: body, step: step, deadline: n.opt.Now().Add(timeout),
		sessions: map[string]*tss.Session{}, inboxes: map[string]chan tss.Inbound{}, sent: map[string]bool{}}
	newC := newCommittee(n.opt.Parties, body.Generation)
	pub, _ := hex.DecodeString(o.Spec.PublicKey)
	base := tss.ReshareConfig{KeyID: p.KeyID, OldParties: body.OldParties, OldThreshold: p.Threshold,
		NewParties: newC, NewThreshold: p.Threshold, PublicKey: pub}
	cfg := func(self tss.Party) tss.Config {
		return tss.Config{SessionID: p.SessionID, Self: self, Deadline: j.deadline, Now: n.opt.Now}
	}
	if o.Spec.Replace != n.opt.Party {
		share, err := n.opt.Keys.Load(n.ctx, p.KeyID)
		if err != nil {
			return nil, err
		}
		c := base
		c.Config, c.Share = cfg(share.Self), share
		s, err := tss.NewReshareSession(c)
		if err != nil {
			return nil, err
		}
		j.sessions[share.Self.ID] = s
	}
	ctx, cancel := context.WithTimeout(n.ctx, timeout/2)
	defer cancel()
	pp, err := n.opt.Pool.Take(ctx)
	if err != nil {
		return nil, fmt.Errorf("node: no pre-params ready for the new share: %w", err)
	}
	for _, q := range newC {
		if q.Node == n.opt.Party {
			c := base
			c.Config, c.PreParams = cfg(q), pp
			s, err := tss.NewReshareSession(c)
			if err != nil {
				return nil, err
			}
			j.sessions[q.ID] = s
		}
	}
	for id := range j.sessions {
		j.inboxes[id] = make(chan tss.Inbound, inboxSize)
	}
	j.commit = rs.openCommit(p.SessionID, n.opt.Parties)
	rt, err := n.r.open(p.SessionID)
	if err != nil {
		rs.closeCommit(p.SessionID)
		return nil, err
	}
	j.rt = rt
	return j, nil
}

func (j *reshareJob) close() {
	j.n.r.close(j.p.SessionID)
	if rs := j.n.recovery(); rs != nil {
		rs.closeCommit(j.p.SessionID)
	}
}

// run drives the local sessions to the end, seals the new share as
// pending, and runs the commit exchange.
func (j *reshareJob) run(ctx context.Context) error {
	n := j.n
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
			err := tss.Run(ctx, s, &reshareConn{j: j, inbox: j.inboxes[id]}, func(in tss.Inbound, err error) {
				n.counts.add("rejected_" + reason(err))
				n.log.Warn("rejected envelope", "session", s.ID().Short(), "peer", in.From, "err", err)
			})
			done <- out{id, err}
		}()
	}
	var first error
	for range j.sessions {
		o := <-done
		if o.err != nil && first == nil {
			first = j.blame(o.id, o.err)
			n.recordAbort(j.sessions[o.id], j.p.KeyID, first)
			cancel() // the other local session cannot succeed alone
		}
	}
	if first != nil {
		j.step("aborted", first.Error())
		return fmt.Errorf("%w: %v", ErrReshareAborted, first)
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
		return fmt.Errorf("%w: no new share", ErrReshareAborted)
	}
	j.step("session done", "new share computed")
	if err := n.opt.Keys.SavePending(ctx, share); err != nil {
		j.step("aborted", err.Error())
		return fmt.Errorf("%w: %v", ErrReshareAborted, err)
	}
	j.step("new share sealed (pending)", "old share still in force")
	return j.decide(ctx, share)
}

// blame returns err, the first failure of local session id, or, when it
// is a timeout that blames nobody, the other local session's timeout. The
// sessions share one deadline: an old participant waiting only for the
// new participants' acknowledgements blames nobody while its node's new
// participant waits for the party that fell silent (a cut at round 1).
func (j *reshareJob) blame(id string, err error) error {
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
func (j *reshareJob) demux(ctx context.Context, cancel context.CancelFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-j.rt.declines:
			j.step("declined", d.from+": "+d.reason)
			for _, s := range j.sessions {
				s.Abort(fmt.Errorf("%w: %s: %s", ErrDeclined, d.from, d.reason), d.from)
			}
			cancel()
			return
		case in := <-j.rt.inbox:
			j.dispatch(in)
		}
	}
}

func (j *reshareJob) dispatch(in tss.Inbound) {
	for _, to := range in.Env.To {
		if ch, ok := j.inboxes[to]; ok && to != in.Env.From {
			select {
			case ch <- in:
			default:
				j.n.counts.add("inbox_overflow")
			}
		}
	}
}

// reshareConn sends a session's envelopes: one frame per node (a
// broadcast names several participants on one node), and envelopes for
// this node's other participant straight to it.
type reshareConn struct {
	j     *reshareJob
	inbox chan tss.Inbound
}

func (c *reshareConn) Inbox() <-chan tss.Inbound { return c.inbox }

func (c *reshareConn) Send(ctx context.Context, toNode string, env tss.Envelope) error {
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
	if toNode == j.n.opt.Party {
		j.dispatch(tss.Inbound{From: toNode, Env: env})
		return nil
	}
	return j.n.send(ctx, toNode, frame{Kind: kindEnvelope, Envelope: &env})
}
