package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/tss"
)

// A reshare proposal: its payload, the committees it names, and the
// checks every participant makes before it joins.

// reshareBody is the proposal payload of a reshare.
type reshareBody struct {
	Order ReshareOrder `json:"order"`
	// OldParties are the survivors' current participant IDs; Generation
	// numbers the new IDs (party#generation).
	OldParties []tss.Party `json:"old_parties"`
	Generation int         `json:"generation"`
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
		if g := keystore.GenerationOf(p.ID); g > gen {
			gen = g
		}
		if p.Node != replace {
			old = append(old, p)
		}
	}
	return old, gen + 1
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
