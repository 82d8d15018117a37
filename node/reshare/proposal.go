package reshare

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/tss"
)

// A reshare proposal: its payload, the committees it names, and the
// checks every participant makes before it joins (step 2 on a
// participant).

// body is the proposal payload of a reshare.
type body struct {
	Order Order `json:"order"`
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

// Join is a participant's side of a reshare proposal from peer from (the
// node has checked the proposal's form and session ID): check everything
// itself, join, and report the commit decision to the proposer. decline
// refuses the proposal with a reason.
func (e *Engine) Join(from string, p Proposal, decline func(string)) {
	var b body
	if err := json.Unmarshal(p.Payload, &b); err != nil {
		decline("malformed reshare proposal")
		return
	}
	o := b.Order
	step := func(s, detail string) { e.event(o.Spec.ReshareID, s, detail) }
	if err := e.checkProposal(from, p, b); err != nil {
		decline(err.Error())
		return
	}
	j, err := e.prepare(p, step)
	if err != nil {
		decline(err.Error())
		return
	}
	defer j.close()
	err = j.run(e.n.Context())
	failure := ""
	if err != nil {
		failure = err.Error()
	}
	ctx, cancel := context.WithTimeout(e.n.Context(), 10*time.Second)
	defer cancel()
	e.n.ReportSaved(ctx, from, p.SessionID, failure)
}

// checkProposal makes a participant's own checks.
func (e *Engine) checkProposal(from string, p Proposal, b body) error {
	n, o := e.n, b.Order
	if err := e.VerifyApprovals(o); err != nil {
		return err
	}
	parties := n.Parties()
	if p.KeyID != o.Spec.KeyID || p.RequestID != "reshare/"+o.Spec.ReshareID || len(p.Participants) != len(parties) {
		return errors.New("node: reshare proposal does not match its approved spec")
	}
	for i, q := range parties {
		if p.Participants[i] != q {
			return errors.New("node: reshare must include every party")
		}
	}
	if from == o.Spec.Replace {
		return errors.New("node: the node being replaced cannot coordinate its own reshare")
	}
	if len(b.OldParties) != p.Threshold+1 {
		return fmt.Errorf("node: old committee of %d for threshold %d", len(b.OldParties), p.Threshold)
	}
	for _, q := range b.OldParties {
		if q.Node == o.Spec.Replace || !slices.Contains(parties, q.Node) {
			return fmt.Errorf("node: %s cannot be in the old committee", q.Node)
		}
	}
	if n.Party() == o.Spec.Replace {
		// The replacement node holds nothing yet; the approved public key
		// is checked against its new share by the session.
		if n.Keys().Has(o.Spec.KeyID) {
			return fmt.Errorf("node: this node already holds a share of %s; a replacement starts empty", o.Spec.KeyID)
		}
		if b.Generation < 2 {
			return errors.New("node: reshare generation must be at least 2")
		}
		return nil
	}
	share, err := n.Keys().Load(n.Context(), o.Spec.KeyID)
	if err != nil {
		return err
	}
	pub, _ := share.PublicKey()
	if hex.EncodeToString(pub.SerializeCompressed()) != o.Spec.PublicKey {
		return fmt.Errorf("node: key %s is not the approved public key", o.Spec.KeyID)
	}
	old, gen := survivorsView(share, o.Spec.Replace)
	if gen != b.Generation || !sameParties(old, b.OldParties) || share.Threshold != p.Threshold {
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
