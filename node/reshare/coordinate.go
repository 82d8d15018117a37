package reshare

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Step 2 on the coordinator: check the approvals and its own share,
// propose the reshare to every node, run its own part, and wait for the
// other nodes' commit decisions.

// Reshare coordinates an approved reshare from this surviving node and
// returns once every node has committed (or the first failure). progress,
// if set, hears each step on this node.
func (e *Engine) Reshare(ctx context.Context, o Order, progress func(Event)) (*Result, error) {
	start := time.Now()
	res := &Result{ReshareID: o.Spec.ReshareID, KeyID: o.Spec.KeyID, PublicKey: o.Spec.PublicKey}
	step := func(s, detail string) {
		ev := e.event(o.Spec.ReshareID, s, detail)
		res.Steps = append(res.Steps, ev)
		if progress != nil {
			progress(ev)
		}
	}
	p, err := e.propose(ctx, o, res, step)
	if err != nil {
		return res, err
	}
	j, err := e.prepare(p, step)
	if err != nil {
		return res, err
	}
	defer j.close()
	n := e.n
	for _, peer := range n.Peers() {
		if err := n.Propose(ctx, peer, p); err != nil {
			return res, fmt.Errorf("node: reshare needs every node; %s: %w", peer, err)
		}
	}
	step("proposed", strings.Join(n.Peers(), ", "))
	if err := j.awaitPeers(ctx, j.run(ctx), step); err != nil {
		return res, err
	}
	res.Duration = time.Since(start)
	step("reshare complete", res.Duration.Round(time.Millisecond).String())
	return res, nil
}

// propose checks the order against this node's own share and builds the
// proposal, noting its session and new committee in res.
func (e *Engine) propose(ctx context.Context, o Order, res *Result, step func(string, string)) (Proposal, error) {
	n := e.n
	if err := e.VerifyApprovals(o); err != nil {
		return Proposal{}, err
	}
	step("approvals verified", fmt.Sprintf("%d approval(s)", len(o.Approvals)))
	if o.Spec.Replace == n.Party() {
		return Proposal{}, fmt.Errorf("node: the node being replaced cannot coordinate its own reshare")
	}
	share, err := n.Keys().Load(ctx, o.Spec.KeyID)
	if err != nil {
		return Proposal{}, err
	}
	pub, _ := share.PublicKey()
	if hex.EncodeToString(pub.SerializeCompressed()) != o.Spec.PublicKey {
		return Proposal{}, fmt.Errorf("node: key %s is not the approved public key", o.Spec.KeyID)
	}
	old, gen := survivorsView(share, o.Spec.Replace)
	if len(old) != share.Threshold+1 {
		return Proposal{}, fmt.Errorf("node: %d survivors for a threshold-%d key", len(old), share.Threshold)
	}
	b, _ := json.Marshal(body{Order: o, OldParties: old, Generation: gen})
	p := n.NewProposal(o.Spec.KeyID, "reshare/"+o.Spec.ReshareID, share.Threshold, b)
	res.SessionID = p.SessionID.String()
	res.NewParties = append(res.NewParties, newCommittee(n.Parties(), gen)...)
	return p, nil
}

// awaitPeers returns once the other two nodes have decided as well, with
// runErr (this node's own outcome) first; after a failure here it waits a
// bounded time for their (abort) decisions.
func (j *job) awaitPeers(ctx context.Context, runErr error, step func(string, string)) error {
	wait := j.deadline
	if runErr != nil {
		if d := time.Now().Add(30 * time.Second); d.Before(wait) {
			wait = d
		}
	}
	wctx, cancel := context.WithDeadline(ctx, wait)
	defer cancel()
	var peerErrs []string
	for waiting := len(j.e.n.Peers()); waiting > 0; waiting-- {
		select {
		case ack := <-j.rt.Saved:
			if ack.Reason != "" {
				peerErrs = append(peerErrs, ack.From+": "+ack.Reason)
				step("peer did not commit", ack.From+": "+ack.Reason)
				continue
			}
			step("peer committed", ack.From)
		case <-wctx.Done():
			if runErr != nil {
				return runErr
			}
			return fmt.Errorf("%w: %d node(s) did not report their commit: %v", ErrUndecided, waiting, wctx.Err())
		}
	}
	if runErr != nil {
		return runErr
	}
	if len(peerErrs) > 0 {
		return fmt.Errorf("node: reshare %s: not every node committed: %s", j.body.Order.Spec.ReshareID, strings.Join(peerErrs, "; "))
	}
	return nil
}
