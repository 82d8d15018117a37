package node

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/triad-custody/triad/tss"
)

// RecoveryOptions enable resharing on a node.
type RecoveryOptions struct {
	// Operators gives the ed25519 key of party's operator name, who may
	// approve a reshare or a custody keygen (the node's policy's operators
	// list: custody.Policy.OperatorPublicKey); false, or nil, for none.
	Operators func(party, name string) (ed25519.PublicKey, bool)
	// Pin points party at a new libp2p peer ID: live when persist is
	// false (before the reshare runs), and durably at commit. nil on an
	// in-memory network.
	Pin func(party, peerID string, persist bool) error
	// Observer hears every reshare step on this node (progress, audit).
	Observer func(ReshareEvent)
	// Timeout is one reshare's deadline, commit included; the node's
	// keygen timeout when zero.
	Timeout time.Duration
	// NonceFile keeps the used approval nonces across restarts
	// (reshare_nonces.go); "" keeps them in memory only (tests).
	NonceFile string
}

// App topics of the commit exchange.
const (
	topicConfirm = "triad.reshare.confirm"
	topicEcho    = "triad.reshare.echo"
)

type recoveryState struct {
	opt      RecoveryOptions
	mu       sync.Mutex
	nonces   map[string]time.Time // party/nonce → approval expiry
	nonceErr error                // the nonce file could not be read: refuse reshares
	commits  map[tss.SessionID]*commitState
}

// EnableRecovery turns on resharing for this node. Until it is called the
// node declines reshare proposals.
func (n *Node) EnableRecovery(o RecoveryOptions) {
	rs := &recoveryState{opt: o, commits: map[tss.SessionID]*commitState{}}
	rs.nonces, rs.nonceErr = loadNonces(o.NonceFile)
	if rs.nonceErr != nil {
		n.log.Error("reshare approvals refused until the nonce file is repaired", "err", rs.nonceErr)
	}
	n.mu.Lock()
	n.rec = rs
	n.mu.Unlock()
	n.HandleApp(topicConfirm, func(from string, b []byte) { rs.onConfirm(n, from, b) })
	n.HandleApp(topicEcho, func(from string, b []byte) { rs.onEcho(n, from, b) })
}

// commitState collects one reshare's confirmations and echoes.
type commitState struct {
	parties  []string
	mu       sync.Mutex
	confirms map[string]string            // node → view (hex)
	echoes   map[string]map[string]string // echoer → node → view
	conflict string                       // first equivocation seen
	changed  chan struct{}
}

func (rs *recoveryState) openCommit(sid tss.SessionID, parties []string) *commitState {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	c := &commitState{parties: parties, confirms: map[string]string{}, echoes: map[string]map[string]string{}, changed: make(chan struct{}, 1)}
	rs.commits[sid] = c
	return c
}

func (rs *recoveryState) closeCommit(sid tss.SessionID) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.commits, sid)
}

func (rs *recoveryState) lookup(sid tss.SessionID) *commitState {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.commits[sid]
}

type confirmMsg struct {
	SessionID tss.SessionID `json:"session_id"`
	View      string        `json:"view"`
}

type echoMsg struct {
	SessionID tss.SessionID     `json:"session_id"`
	Views     map[string]string `json:"views"`
}

func (c *commitState) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (rs *recoveryState) onConfirm(n *Node, from string, b []byte) {
	var m confirmMsg
	if json.Unmarshal(b, &m) != nil || len(m.View) != 64 {
		n.counts.add("reshare_bad_confirm")
		return
	}
	c := rs.lookup(m.SessionID)
	if c == nil || !contains(c.parties, from) {
		n.counts.add("reshare_stray_confirm")
		return
	}
	c.mu.Lock()
	if prev, ok := c.confirms[from]; ok && prev != m.View && c.conflict == "" {
		c.conflict = fmt.Sprintf("%s sent two different confirmations", from)
	} else if !ok {
		c.confirms[from] = m.View
	}
	c.mu.Unlock()
	c.signal()
}

func (rs *recoveryState) onEcho(n *Node, from string, b []byte) {
	var m echoMsg
	if json.Unmarshal(b, &m) != nil || len(m.Views) > 8 {
		n.counts.add("reshare_bad_echo")
		return
	}
	c := rs.lookup(m.SessionID)
	if c == nil || !contains(c.parties, from) {
		n.counts.add("reshare_stray_echo")
		return
	}
	c.mu.Lock()
	if _, ok := c.echoes[from]; ok {
		c.mu.Unlock()
		return // one echo per node: a second is ignored
	}
	c.echoes[from] = m.Views
	c.mu.Unlock()
	c.signal()
}

// decide runs the commit exchange and commits or aborts this node's part.
func (j *reshareJob) decide(ctx context.Context, share *tss.KeyShare) error {
	n, c := j.n, j.commit
	self := n.opt.Party
	v, err := share.PublicView()
	if err != nil {
		return j.abort(err.Error())
	}
	mine := hex.EncodeToString(v[:])
	c.mu.Lock()
	c.confirms[self] = mine
	c.mu.Unlock()
	msg, _ := json.Marshal(confirmMsg{SessionID: j.p.SessionID, View: mine})
	for _, peer := range n.Peers() {
		if err := n.SendApp(ctx, peer, topicConfirm, msg); err != nil {
			j.step("confirmation not delivered", peer+": "+err.Error())
		}
	}
	j.step("confirmation sent", mine[:16])
	// Wait for every confirmation, then echo what was received.
	if err := j.await(ctx, func() bool { return len(c.confirms) == len(c.parties) || c.conflict != "" }); err != nil {
		return j.undecided("waiting for confirmations: " + err.Error())
	}
	c.mu.Lock()
	views := map[string]string{}
	for k, v := range c.confirms {
		views[k] = v
	}
	c.mu.Unlock()
	echo, _ := json.Marshal(echoMsg{SessionID: j.p.SessionID, Views: views})
	for _, peer := range n.Peers() {
		if err := n.SendApp(ctx, peer, topicEcho, echo); err != nil {
			j.step("echo not delivered", peer+": "+err.Error())
		}
	}
	if err := j.await(ctx, func() bool { return len(c.echoes) == len(c.parties)-1 || c.conflict != "" }); err != nil {
		return j.undecided("waiting for echoes: " + err.Error())
	}
	if why := c.check(mine); why != "" {
		return j.abort(why)
	}
	j.step("confirmations consistent", fmt.Sprintf("%d confirmations, %d echoes agree", len(c.parties), len(c.parties)-1))
	return j.commitShare(ctx, share)
}

// check returns why the confirmations disagree with view, or "".
func (c *commitState) check(view string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conflict != "" {
		return c.conflict
	}
	for _, p := range c.parties {
		if c.confirms[p] != view {
			return fmt.Sprintf("%s confirmed a different share view", p)
		}
	}
	for echoer, views := range c.echoes {
		for _, p := range c.parties {
			if views[p] != view {
				return fmt.Sprintf("%s saw a different confirmation from %s (equivocation)", echoer, p)
			}
		}
	}
	return ""
}

func (j *reshareJob) await(ctx context.Context, ready func() bool) error {
	c := j.commit
	for {
		c.mu.Lock()
		ok := ready()
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-c.changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// rekeyAfterCommit replaces the sealing key once a reshare's new share is
// in force, so that the old share — in a backup, on a lost disk — no
// longer unseals (../shared/SECURITY.md scenario 32). The reshare stands either way:
// a failure is reported as a step and leaves the old key live beside the
// new one (keystore.Store.Rekey), and the next re-key completes it.
func (n *Node) rekeyAfterCommit(ctx context.Context, step func(what, detail string)) {
	if err := n.opt.Keys.Rekey(ctx); err != nil {
		n.counts.add("reshare_rekey_failed")
		n.log.Error("reshare: sealing key not re-keyed", "err", err)
		step("sealing key not re-keyed", err.Error())
		return
	}
	step("sealing key re-keyed", "files sealed before the reshare no longer unseal")
}

// abort discards the pending share: the old committee keeps signing.
func (j *reshareJob) abort(why string) error {
	if err := j.n.opt.Keys.DiscardPending(j.p.KeyID); err != nil {
		j.n.log.Error("reshare: discarding the pending share", "err", err)
	}
	j.n.counts.add("reshare_aborted")
	j.step("aborted", why+"; pending share discarded, old share kept")
	return fmt.Errorf("%w: %s", ErrReshareAborted, why)
}

// undecided keeps both shares: some node may have committed.
func (j *reshareJob) undecided(why string) error {
	j.n.counts.add("reshare_undecided")
	j.step("undecided", why+"; old and pending shares kept")
	return fmt.Errorf("%w: %s", ErrReshareUndecided, why)
}

func (j *reshareJob) commitShare(ctx context.Context, share *tss.KeyShare) error {
	n := j.n
	replaced, err := n.opt.Keys.CommitPending(ctx, j.p.KeyID)
	if err != nil {
		return j.undecided("committing: " + err.Error())
	}
	if replaced {
		j.step("committed", "new share in force; old share destroyed")
	} else {
		j.step("committed", "new share in force")
	}
	n.rekeyAfterCommit(ctx, j.step)
	spec := j.body.Order.Spec
	if rs := n.recovery(); rs != nil && rs.opt.Pin != nil && spec.NewPeerID != "" && spec.Replace != n.opt.Party {
		if err := rs.opt.Pin(spec.Replace, spec.NewPeerID, true); err != nil {
			j.step("pin not persisted", err.Error())
			return fmt.Errorf("node: reshare committed but the new peer of %s was not persisted: %w", spec.Replace, err)
		}
		j.step("new peer persisted", spec.Replace+" = "+spec.NewPeerID)
	}
	return nil
}
