package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/tss"
)

// Resharing replaces one party's node (disk lost, compromised, or planned
// rotation) while the group key and every address stay the same:
//
//  1. Two parties' operators sign a ReshareSpec: which key, which party is
//     replaced, the replacement node's new libp2p peer ID, the group key.
//  2. A surviving node (the coordinator) checks the approvals, pins the new
//     peer ID for the replaced party, and proposes the reshare; every node
//     checks the approvals itself before it joins.
//  3. The two survivors are the old committee (under their current
//     participant IDs); all three nodes form the new committee under new
//     IDs ("custodian#2"). Each new member seals its new share as PENDING;
//     the old shares stay in force.
//  4. Every node sends the others a confirmation (the public view of its
//     new share), then echoes every confirmation it received. A node
//     commits only if all three confirmations and both echoes agree with
//     its own view: the pending share replaces the old one, which is
//     destroyed, and the new peer ID is persisted. Any disagreement (an
//     equivocated confirmation) aborts: pending shares are discarded and
//     the old committee can still sign. A deadline with no decision keeps
//     both, for an operator to resolve.

// ReshareSpec is what two parties' operators approve.
type ReshareSpec struct {
	// ReshareID is unique per reshare (operator-chosen or random).
	ReshareID string `json:"reshare_id"`
	KeyID     string `json:"key_id"`
	// Replace is the party whose node is replaced; the other two are the
	// old committee.
	Replace string `json:"replace"`
	// NewPeerID is the replacement node's libp2p peer ID ("" on an
	// in-memory network): the other nodes pin it for Replace.
	NewPeerID string `json:"new_peer_id,omitempty"`
	// PublicKey is the group key (hex, 33-byte compressed): the reshare
	// must keep it.
	PublicKey string    `json:"public_key"`
	Expires   time.Time `json:"expires"`
}

// Digest binds approvals to the spec.
func (s ReshareSpec) Digest() [32]byte {
	s.Expires = s.Expires.UTC().Truncate(time.Second)
	b, _ := json.Marshal(s) // plain struct: cannot fail
	return sha256.Sum256(append([]byte("triad/reshare-spec/v1\n"), b...))
}

func (s ReshareSpec) validate(parties []string) error {
	switch {
	case !validName(s.ReshareID):
		return fmt.Errorf("invalid reshare id %q", s.ReshareID)
	case !validName(s.KeyID):
		return fmt.Errorf("invalid key id %q", s.KeyID)
	case !contains(parties, s.Replace):
		return fmt.Errorf("%q is not a party", s.Replace)
	case s.Expires.IsZero():
		return errors.New("no expiry")
	}
	if s.NewPeerID != "" {
		if _, err := peer.Decode(s.NewPeerID); err != nil {
			return fmt.Errorf("new peer id: %v", err)
		}
	}
	if b, err := hex.DecodeString(s.PublicKey); err != nil || len(b) != 33 {
		return errors.New("public key must be 66 hex characters (compressed)")
	}
	return nil
}

// ReshareApproval is one operator's ed25519 signature over a spec. Its
// nonce is single-use on every node.
type ReshareApproval struct {
	SpecDigest string    `json:"spec_digest"`
	Party      string    `json:"party"`
	Operator   string    `json:"operator"`
	Nonce      string    `json:"nonce"`
	Expires    time.Time `json:"expires"`
	Signature  []byte    `json:"signature,omitempty"`
}

func (a ReshareApproval) signingBytes() []byte {
	a.Signature = nil
	a.Expires = a.Expires.UTC().Truncate(time.Second)
	b, _ := json.Marshal(a)
	return append([]byte("triad/reshare-approval/v1\n"), b...)
}

// SignReshareApproval signs spec as operator of party (CLI and tests).
func SignReshareApproval(spec ReshareSpec, party, operator, nonce string, key ed25519.PrivateKey) ReshareApproval {
	d := spec.Digest()
	a := ReshareApproval{SpecDigest: hex.EncodeToString(d[:]), Party: party, Operator: operator, Nonce: nonce,
		Expires: spec.Expires.UTC().Truncate(time.Second)}
	a.Signature = ed25519.Sign(key, a.signingBytes())
	return a
}

// ReshareOrder is a spec with its approvals: what a coordinator runs.
type ReshareOrder struct {
	Spec      ReshareSpec       `json:"spec"`
	Approvals []ReshareApproval `json:"approvals"`
}

// Reshare errors.
var (
	ErrReshareApproval  = errors.New("node: reshare approvals insufficient")
	ErrReshareAborted   = errors.New("node: reshare aborted; old shares kept")
	ErrReshareUndecided = errors.New("node: reshare undecided; old and pending shares both kept")
	ErrRecoveryOff      = errors.New("node: recovery not enabled on this node")
)

// verifyApprovals checks that operators of at least two distinct parties
// signed spec, within their expiry, with nonces this node has not seen.
func (n *Node) verifyApprovals(o ReshareOrder) error {
	rs := n.recovery()
	if rs == nil {
		return ErrRecoveryOff
	}
	if err := o.Spec.validate(n.opt.Parties); err != nil {
		return fmt.Errorf("%w: spec: %v", ErrReshareApproval, err)
	}
	now := n.opt.Now()
	if !now.Before(o.Spec.Expires) {
		return fmt.Errorf("%w: spec expired at %s", ErrReshareApproval, o.Spec.Expires.Format(time.RFC3339))
	}
	d := o.Spec.Digest()
	want := hex.EncodeToString(d[:])
	parties := map[string]bool{}
	var errs []string
	for _, a := range o.Approvals {
		if err := rs.verifyApproval(a, want, now); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		parties[a.Party] = true
	}
	if len(parties) < 2 {
		return fmt.Errorf("%w: %d party(ies) approved, need 2 (%s)", ErrReshareApproval, len(parties), strings.Join(errs, "; "))
	}
	return nil
}

func (rs *recoveryState) verifyApproval(a ReshareApproval, digest string, now time.Time) error {
	if a.SpecDigest != digest {
		return fmt.Errorf("%s/%s signed another spec", a.Party, a.Operator)
	}
	if len(a.Nonce) < 16 || len(a.Nonce) > 128 {
		return fmt.Errorf("%s/%s: nonce must be 16–128 characters", a.Party, a.Operator)
	}
	if !now.Before(a.Expires) {
		return fmt.Errorf("%s/%s: approval expired", a.Party, a.Operator)
	}
	var key ed25519.PublicKey
	for _, op := range rs.opt.Operators[custody.Party(a.Party)] {
		if op.Name == a.Operator {
			if b, err := hex.DecodeString(op.PublicKey); err == nil && len(b) == ed25519.PublicKeySize {
				key = b
			}
		}
	}
	if key == nil {
		return fmt.Errorf("%s/%s: no such operator", a.Party, a.Operator)
	}
	if !ed25519.Verify(key, a.signingBytes(), a.Signature) {
		return fmt.Errorf("%s/%s: bad signature", a.Party, a.Operator)
	}
	return nil
}

// useNonces records the approvals' nonces; a replayed approval is refused.
func (rs *recoveryState) useNonces(o ReshareOrder) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, a := range o.Approvals {
		if rs.nonces[a.Party+"/"+a.Nonce] {
			return fmt.Errorf("%w: approval nonce of %s/%s already used", ErrReshareApproval, a.Party, a.Operator)
		}
	}
	for _, a := range o.Approvals {
		rs.nonces[a.Party+"/"+a.Nonce] = true
	}
	return nil
}

// reshareBody is the proposal payload of a reshare.
type reshareBody struct {
	Order ReshareOrder `json:"order"`
	// OldParties are the survivors' current participant IDs; Generation
	// numbers the new IDs (party#generation).
	OldParties []tss.Party `json:"old_parties"`
	Generation int         `json:"generation"`
}

// generationOf parses "party#n"; a bare party name is generation 1.
func generationOf(id string) int {
	if i := strings.LastIndexByte(id, '#'); i >= 0 {
		if g, err := strconv.Atoi(id[i+1:]); err == nil && g > 0 {
			return g
		}
	}
	return 1
}

// newCommittee names the new participants: party#generation on each node.
func newCommittee(parties []string, gen int) []tss.Party {
	out := make([]tss.Party, len(parties))
	for i, p := range parties {
		out[i] = tss.Party{ID: p + "#" + strconv.Itoa(gen), Node: p}
	}
	return out
}

// survivorsView derives the old committee and next generation from a
// survivor's own share.
func survivorsView(share *tss.KeyShare, replace string) ([]tss.Party, int) {
	var old []tss.Party
	gen := 1
	for _, p := range share.Parties {
		if g := generationOf(p.ID); g > gen {
			gen = g
		}
		if p.Node != replace {
			old = append(old, p)
		}
	}
	return old, gen + 1
}

// ReshareEvent is one step of a reshare, for progress output and audit.
type ReshareEvent struct {
	Time      time.Time `json:"time"`
	ReshareID string    `json:"reshare_id"`
	Party     string    `json:"party"`
	Step      string    `json:"step"`
	Detail    string    `json:"detail,omitempty"`
}

// ReshareResult reports a completed reshare on the coordinator.
type ReshareResult struct {
	ReshareID  string         `json:"reshare_id"`
	KeyID      string         `json:"key_id"`
	PublicKey  string         `json:"public_key"`
	NewParties []tss.Party    `json:"new_parties"`
	SessionID  string         `json:"session_id"`
	Duration   time.Duration  `json:"duration"`
	Steps      []ReshareEvent `json:"steps"`
}

// Reshare coordinates an approved reshare from this surviving node and
// returns once every node has committed (or the first failure). progress,
// if set, hears each step on this node.
func (n *Node) Reshare(ctx context.Context, o ReshareOrder, progress func(ReshareEvent)) (*ReshareResult, error) {
	start := time.Now()
	res := &ReshareResult{ReshareID: o.Spec.ReshareID, KeyID: o.Spec.KeyID, PublicKey: o.Spec.PublicKey}
	step := func(s, detail string) {
		e := n.reshareEvent(o.Spec.ReshareID, s, detail)
		res.Steps = append(res.Steps, e)
		if progress != nil {
			progress(e)
		}
	}
	if err := n.verifyApprovals(o); err != nil {
		return res, err
	}
	step("approvals verified", fmt.Sprintf("%d approval(s)", len(o.Approvals)))
	if o.Spec.Replace == n.opt.Party {
		return res, fmt.Errorf("node: the node being replaced cannot coordinate its own reshare")
	}
	share, err := n.opt.Keys.Load(ctx, o.Spec.KeyID)
	if err != nil {
		return res, err
	}
	pub, _ := share.PublicKey()
	if hex.EncodeToString(pub.SerializeCompressed()) != o.Spec.PublicKey {
		return res, fmt.Errorf("node: key %s is not the approved public key", o.Spec.KeyID)
	}
	old, gen := survivorsView(share, o.Spec.Replace)
	if len(old) != share.Threshold+1 {
		return res, fmt.Errorf("node: %d survivors for a threshold-%d key", len(old), share.Threshold)
	}
	body, _ := json.Marshal(reshareBody{Order: o, OldParties: old, Generation: gen})
	p := &Proposal{Protocol: tss.Reshare, KeyID: o.Spec.KeyID, RequestID: "reshare/" + o.Spec.ReshareID,
		Participants: n.opt.Parties, Threshold: share.Threshold, Payload: body}
	p.SessionID = p.sessionIDFor()
	res.SessionID = p.SessionID.String()
	for _, q := range newCommittee(n.opt.Parties, gen) {
		res.NewParties = append(res.NewParties, q)
	}
	j, err := n.prepareReshare(p, step)
	if err != nil {
		return res, err
	}
	defer j.close()
	for _, peer := range n.Peers() {
		if err := n.send(ctx, peer, frame{Kind: kindPropose, Proposal: p}); err != nil {
			return res, fmt.Errorf("node: reshare needs every node; %s: %w", peer, err)
		}
	}
	step("proposed", strings.Join(n.Peers(), ", "))
	runErr := j.run(ctx)
	// Done only when the other two nodes have decided as well; after a
	// failure here, wait a bounded time for their (abort) decisions.
	wait := j.deadline
	if runErr != nil {
		if d := time.Now().Add(30 * time.Second); d.Before(wait) {
			wait = d
		}
	}
	wctx, cancel := context.WithDeadline(ctx, wait)
	defer cancel()
	var peerErrs []string
	for waiting := len(n.Peers()); waiting > 0; waiting-- {
		select {
		case ack := <-j.rt.saved:
			if ack.reason != "" {
				peerErrs = append(peerErrs, ack.from+": "+ack.reason)
				step("peer did not commit", ack.from+": "+ack.reason)
				continue
			}
			step("peer committed", ack.from)
		case <-wctx.Done():
			if runErr != nil {
				return res, runErr
			}
			return res, fmt.Errorf("%w: %d node(s) did not report their commit: %v", ErrReshareUndecided, waiting, wctx.Err())
		}
	}
	if runErr != nil {
		return res, runErr
	}
	if len(peerErrs) > 0 {
		return res, fmt.Errorf("node: reshare %s: not every node committed: %s", o.Spec.ReshareID, strings.Join(peerErrs, "; "))
	}
	res.Duration = time.Since(start)
	step("reshare complete", res.Duration.Round(time.Millisecond).String())
	return res, nil
}

func (n *Node) reshareEvent(id, s, detail string) ReshareEvent {
	e := ReshareEvent{Time: n.opt.Now(), ReshareID: id, Party: n.opt.Party, Step: s, Detail: detail}
	n.log.Info("reshare", "reshare", id, "step", s, "detail", detail)
	if rs := n.recovery(); rs != nil && rs.opt.Observer != nil {
		rs.opt.Observer(e)
	}
	return e
}

// onReshareProposal is a participant's side: check everything itself,
// join, and report the commit decision to the proposer.
func (n *Node) onReshareProposal(from string, p *Proposal, decline func(string)) {
	var body reshareBody
	if err := json.Unmarshal(p.Payload, &body); err != nil {
		decline("malformed reshare proposal")
		return
	}
	o := body.Order
	step := func(s, detail string) { n.reshareEvent(o.Spec.ReshareID, s, detail) }
	if err := n.checkReshareProposal(from, p, body); err != nil {
		decline(err.Error())
		return
	}
	j, err := n.prepareReshare(p, step)
	if err != nil {
		decline(err.Error())
		return
	}
	defer j.close()
	err = j.run(n.ctx)
	ack := &Saved{SessionID: p.SessionID}
	if err != nil {
		ack.Error = err.Error()
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	n.send(ctx, from, frame{Kind: kindSaved, Saved: ack})
}

// checkReshareProposal makes a participant's own checks.
func (n *Node) checkReshareProposal(from string, p *Proposal, body reshareBody) error {
	o := body.Order
	if err := n.verifyApprovals(o); err != nil {
		return err
	}
	if p.KeyID != o.Spec.KeyID || p.RequestID != "reshare/"+o.Spec.ReshareID || len(p.Participants) != len(n.opt.Parties) {
		return errors.New("node: reshare proposal does not match its approved spec")
	}
	for i, q := range n.opt.Parties {
		if p.Participants[i] != q {
			return errors.New("node: reshare must include every party")
		}
	}
	if from == o.Spec.Replace {
		return errors.New("node: the node being replaced cannot coordinate its own reshare")
	}
	if len(body.OldParties) != p.Threshold+1 {
		return fmt.Errorf("node: old committee of %d for threshold %d", len(body.OldParties), p.Threshold)
	}
	for _, q := range body.OldParties {
		if q.Node == o.Spec.Replace || !contains(n.opt.Parties, q.Node) {
			return fmt.Errorf("node: %s cannot be in the old committee", q.Node)
		}
	}
	if n.opt.Party == o.Spec.Replace {
		// The replacement node holds nothing yet; the approved public key
		// is checked against its new share by the session.
		if n.opt.Keys.Has(o.Spec.KeyID) {
			return fmt.Errorf("node: this node already holds a share of %s; a replacement starts empty", o.Spec.KeyID)
		}
		if body.Generation < 2 {
			return errors.New("node: reshare generation must be at least 2")
		}
		return nil
	}
	share, err := n.opt.Keys.Load(n.ctx, o.Spec.KeyID)
	if err != nil {
		return err
	}
	pub, _ := share.PublicKey()
	if hex.EncodeToString(pub.SerializeCompressed()) != o.Spec.PublicKey {
		return fmt.Errorf("node: key %s is not the approved public key", o.Spec.KeyID)
	}
	old, gen := survivorsView(share, o.Spec.Replace)
	if gen != body.Generation || !sameParties(old, body.OldParties) || share.Threshold != p.Threshold {
		return errors.New("node: reshare proposal disagrees with this node's share (committee, generation or threshold)")
	}
	return nil
}

func sameParties(a, b []tss.Party) bool {
	if len(a) != len(b) {
		return false
	}
	x := append([]tss.Party(nil), a...)
	y := append([]tss.Party(nil), b...)
	sort.Slice(x, func(i, j int) bool { return x[i].ID < x[j].ID })
	sort.Slice(y, func(i, j int) bool { return y[i].ID < y[j].ID })
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

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
	if err := rs.useNonces(o); err != nil {
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
			first = o.err
			n.recordAbort(j.sessions[o.id], j.p.KeyID, o.err)
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
	if err := n.opt.Keys.savePending(ctx, share); err != nil {
		j.step("aborted", err.Error())
		return fmt.Errorf("%w: %v", ErrReshareAborted, err)
	}
	j.step("new share sealed (pending)", "old share still in force")
	return j.decide(ctx, share)
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

// recovery returns the node's recovery state, nil until EnableRecovery.
func (n *Node) recovery() *recoveryState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rec
}
