package reshare

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/triad-custody/triad/tss"
)

// Step 4 on one node: send its confirmation, echo the confirmations it
// received, and commit only if all agree with its own view; abort on a
// disagreement, stay undecided on a deadline.

// decide runs the commit exchange and commits or aborts this node's part.
func (j *job) decide(ctx context.Context, share *tss.KeyShare) error {
	n, c := j.e.n, j.commit
	self := n.Party()
	v, err := share.PublicView()
	if err != nil {
		return j.abort(err.Error())
	}
	mine := hex.EncodeToString(v[:])
	c.mu.Lock()
	c.confirms[self] = mine
	c.mu.Unlock()
	msg, _ := json.Marshal(Confirm{SessionID: j.p.SessionID, View: mine})
	for _, peer := range n.Peers() {
		if err := n.SendApp(ctx, peer, TopicConfirm, msg); err != nil {
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
	echo, _ := json.Marshal(Echo{SessionID: j.p.SessionID, Views: views})
	for _, peer := range n.Peers() {
		if err := n.SendApp(ctx, peer, TopicEcho, echo); err != nil {
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
	return j.commitShare(ctx)
}

func (j *job) await(ctx context.Context, ready func() bool) error {
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
func (e *Engine) rekeyAfterCommit(ctx context.Context, step func(what, detail string)) {
	if err := e.n.Keys().Rekey(ctx); err != nil {
		e.n.Count("reshare_rekey_failed")
		e.n.Logger().Error("reshare: sealing key not re-keyed", "err", err)
		step("sealing key not re-keyed", err.Error())
		return
	}
	step("sealing key re-keyed", "files sealed before the reshare no longer unseal")
}

// abort discards the pending share: the old committee keeps signing.
func (j *job) abort(why string) error {
	n := j.e.n
	if err := n.Keys().DiscardPending(j.p.KeyID); err != nil {
		n.Logger().Error("reshare: discarding the pending share", "err", err)
	}
	n.Count("reshare_aborted")
	j.step("aborted", why+"; pending share discarded, old share kept")
	return fmt.Errorf("%w: %s", ErrAborted, why)
}

// undecided keeps both shares: some node may have committed.
func (j *job) undecided(why string) error {
	j.e.n.Count("reshare_undecided")
	j.step("undecided", why+"; old and pending shares kept")
	return fmt.Errorf("%w: %s", ErrUndecided, why)
}

// commitShare puts the pending share in force, re-keys the sealer and
// persists the replacement's peer ID.
func (j *job) commitShare(ctx context.Context) error {
	n := j.e.n
	replaced, err := n.Keys().CommitPending(ctx, j.p.KeyID)
	if err != nil {
		return j.undecided("committing: " + err.Error())
	}
	if replaced {
		j.step("committed", "new share in force; old share destroyed")
	} else {
		j.step("committed", "new share in force")
	}
	j.e.rekeyAfterCommit(ctx, j.step)
	spec := j.body.Order.Spec
	if st := j.e.state(); st != nil && st.opt.Pin != nil && spec.NewPeerID != "" && spec.Replace != n.Party() {
		if err := st.opt.Pin(spec.Replace, spec.NewPeerID, true); err != nil {
			j.step("pin not persisted", err.Error())
			return fmt.Errorf("node: reshare committed but the new peer of %s was not persisted: %w", spec.Replace, err)
		}
		j.step("new peer persisted", spec.Replace+" = "+spec.NewPeerID)
	}
	return nil
}
