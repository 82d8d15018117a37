package custody

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// StepState is what this node holds about one request: the request, its
// own state (as of now: exposure filled in, witnessed time counted) and the
// decision it last recorded.
type StepState struct {
	Request      Request
	State        State
	LastDecision *Decision // nil: none recorded yet
}

// PeerReport is the newest status a peer's node reported on a request.
type PeerReport struct {
	Status Status
	Reason string
	// Waiting: in its newest report the peer refused only until time
	// passes ("too early").
	Waiting bool
}

// StepInput is what this node observed, outside its own state, that bears
// on a step. The service looks each of these up itself; none is taken from
// a peer's say-so beyond what PeerReport records.
type StepInput struct {
	Peers     map[Party]PeerReport // the newest report of each peer's node
	Reachable map[Party]bool       // peers whose node this node can reach now
	// PeerFinalizes: this node has no chain node of its own, so a peer's
	// "done" finalizes the payment here too; with one, it looks itself.
	PeerFinalizes bool
	// JoinedOver: the request is signing and this node holds no live
	// session for it any more (the attempt it joined is over).
	JoinedOver bool
	// Batches: a request of this kind that this node coordinates is
	// queued for the next batch instead of signed alone.
	Batches bool
	// Finalizes: a finalizer runs on the coordinator after signing (it
	// broadcasts the transaction); without one the signature is the
	// product.
	Finalizes bool
	// Outcome, when set, is how this node's signing attempt, a peer's
	// signature, the broadcast or the chain look-up ended: the step
	// records it and does nothing else (outcome.go).
	Outcome *Outcome
}

// EffectKind is what the service does for one Effect.
type EffectKind string

// Effects.
const (
	// EffectPersist: apply Event to the stored record, or, with
	// AutoApproval, record this party's automatic approval.
	EffectPersist EffectKind = "persist"
	// EffectSend: announce this party's automatic approval to the peers.
	EffectSend EffectKind = "send"
	// EffectEmit: record (audit) and emit Decision.
	EffectEmit EffectKind = "emit"
	// EffectSign: begin a signing attempt with Partner (once the coins are
	// reserved), or with Batch queue the request for the next batch.
	EffectSign EffectKind = "sign"
	// EffectNote: record (audit) and emit Note: a failure, a signature.
	EffectNote EffectKind = "note"
	// EffectFinalize: run the finalizer (broadcast) on the signed plan.
	EffectFinalize EffectKind = "finalize"
	// EffectTrack: follow the request's transaction on this node's own
	// chain node (an OutcomeConfirmed comes back).
	EffectTrack EffectKind = "track"
	// EffectPublish: tell the peers this node's status now.
	EffectPublish EffectKind = "publish"
)

// Effect is one thing a step asks the service to do.
type Effect struct {
	Kind         EffectKind
	Event        EventType // persist
	Reason       string    // persist; note: the audited text
	AutoApproval bool      // persist
	Decision     *Decision // emit
	Partner      Party     // sign
	Batch        bool      // sign
	Note         NoteKind  // note
	By           Party     // note signed: whose attempt signed
	Detail       string    // note: the emitted detail (Reason: the audited text)
}

// String is a one-line rendering for logs and golden tests.
func (e Effect) String() string {
	switch {
	case e.Kind == EffectPersist && e.AutoApproval:
		return "persist auto-approval"
	case e.Kind == EffectPersist:
		return fmt.Sprintf("persist %s (%s)", e.Event, e.Reason)
	case e.Kind == EffectSend:
		return "send auto-approval"
	case e.Kind == EffectEmit:
		return "emit decision " + e.Decision.String()
	case e.Kind == EffectNote:
		return e.noteString()
	case e.Kind != EffectSign:
		return string(e.Kind)
	case e.Batch:
		return "sign queue for batch with " + string(e.Partner)
	}
	return "sign with " + string(e.Partner)
}

// Output is what a step asks for, in order. The service executes the
// effects one by one and stops at the first persist that fails: what
// follows assumed it.
type Output struct {
	Effects []Effect
}

// Decision is the decision the step evaluated, if it evaluated one.
func (o Output) Decision() (Decision, bool) {
	for _, e := range o.Effects {
		if e.Kind == EffectEmit {
			return *e.Decision, true
		}
	}
	return Decision{}, false
}

// Step is the request state machine of one node, pure in the way raft's
// RawNode is: from this node's policy, its state of a request, what it
// observed and its clock reading now, it returns what to persist, what to
// send, what to sign and which decision to emit. It is the only place a
// request moves forward on its own; the service reads state, calls Step
// and executes the Output.
//
// In order: a signed payment a peer finalized is done here too; an attempt
// this node joined that is over is aborted; the request is evaluated
// (Evaluate) and a changed decision emitted. A node outside the quorum, or
// one whose attempt is under way, stops there. Peers' final refusals that
// leave the quorum impossible fail the request; a refusal that neither
// time nor an expected fact lifts ends it; an automatic approval is
// recorded and announced once; and once a signing pair that includes this
// node can sign, the request is approved and, where this node leads the
// pair, signed (or queued for a batch).
//
// An input carrying an Outcome (how an attempt, a peer's signature, the
// broadcast or the chain look-up ended) is a step of its own: Step
// records the outcome and what follows from it, nothing else
// (stepOutcome).
func Step(p Policy, s StepState, in StepInput, now time.Time) Output {
	if in.Outcome != nil {
		return stepOutcome(p, s, in)
	}
	var o Output
	st := &s.State
	switch st.Record.Status {
	case StatusSigned:
		if in.PeerFinalizes && peerDone(in.Peers) {
			o.persist(EvDone, "finalized by a peer")
		}
		return o
	case StatusSigning:
		if in.JoinedOver {
			const why = "the attempt this node joined is over"
			o.persist(EvAbort, why)
			if next, err := Transition(st.Record, Event{Type: EvAbort, At: now, Reason: why}); err == nil {
				st.Record = next
			}
		}
	}
	if st.Record.Status.Terminal() {
		return o
	}
	d := Evaluate(p, *st, s.Request, now)
	if s.LastDecision == nil || s.LastDecision.String() != d.String() {
		o.Effects = append(o.Effects, Effect{Kind: EffectEmit, Decision: &d})
	}
	if st.Record.Status == StatusSigning || !QuorumFor(s.Request.Kind).Includes(p.Party) {
		return o // an attempt is under way; or this node only observes
	}
	if why, lost := quorumLost(p.Party, s.Request.Kind, in.Peers); lost {
		o.persist(EvFail, why)
		return o
	}
	o.act(p, s, in, d)
	return o
}

// act follows a decision of a node in the quorum with nothing under way.
func (o *Output) act(p Policy, s StepState, in StepInput, d Decision) {
	switch d.Verdict {
	case VerdictRefuse:
		if !d.Transient() {
			o.persist(refusalEvent(d), d.Summary())
		}
		return
	case VerdictNeedOperator:
		return
	}
	if _, has := s.State.Approvals[p.Party]; d.Auto && !has {
		o.Effects = append(o.Effects, Effect{Kind: EffectPersist, AutoApproval: true}, Effect{Kind: EffectSend})
	}
	if d.Verdict != VerdictApprove {
		return
	}
	pair := SigningPair(p.Party, s.Request.Kind, s.State, in)
	if pair == nil {
		return
	}
	if s.State.Record.Status == StatusProposed {
		o.persist(EvApprove, "quorum "+JoinParties(pair))
	}
	if pair[0] == p.Party {
		o.Effects = append(o.Effects, Effect{Kind: EffectSign, Partner: pair[1], Batch: in.Batches})
	}
}

func (o *Output) persist(t EventType, reason string) {
	o.Effects = append(o.Effects, Effect{Kind: EffectPersist, Event: t, Reason: reason})
}

// refusalEvent is the event that ends a request refused for good.
func refusalEvent(d Decision) EventType {
	switch {
	case d.Has(ReasonVetoed):
		return EvVeto
	case d.Has(ReasonLapsed):
		return EvLapse
	}
	return EvReject
}

// SigningPair picks the pair that signs a request this node (self)
// approves, or nil while no pair that includes this node can sign now. The
// first of the pair coordinates.
//
// Evaluate's Signers are the first two approved parties in party order.
// The pair that signs passes over a party that cannot sign now: one this
// node cannot reach (its node is down or cut off), one whose node reported
// a final status (lapsed, rejected, failed), and one whose newest report
// is "too early". Such a refusal holds until the peer reports again, which
// it does when its own decision changes and when this node asks, not until
// the time it gave: its node may have been down meanwhile, and down time
// never counts toward its notice period, so only it can say its time has
// come. So an any-two quorum (emergency unfreeze, canary) with the
// custodian down is signed by the exchange and the regulator; an all-of
// quorum (release, liquidation) has one pair and waits, rather than spend
// attempts on a partner that cannot join. The request is looked at again
// on every tick and peer message.
//
// Every node applies this rule to its own view, so two nodes may both
// think they coordinate. That costs an attempt, never a second signature:
// a coordinator joins no other session for the request while its own
// runs, and a partner joins at most one live session per request.
func SigningPair(self Party, k Kind, st State, in StepInput) []Party {
	operatorOnly := k == KindUnfreeze || k == KindCanary
	pair := QuorumFor(k).Signers(func(p Party) bool {
		if p == self {
			return true
		}
		a, ok := st.Approvals[p]
		return ok && (!operatorOnly || !a.Auto) && in.Reachable[p] && !cannotSign(in.Peers, p)
	})
	if !slices.Contains(pair, self) {
		return nil
	}
	return pair
}

// cannotSign reports whether peer p said it cannot sign: a final status,
// or, in its newest report, a refusal only time lifts.
func cannotSign(peers map[Party]PeerReport, p Party) bool {
	r, ok := peers[p]
	switch {
	case !ok:
		return false
	case r.Status.Terminal() && r.Status != StatusDone:
		return true
	}
	return r.Waiting
}

// quorumLost reports whether peers' final refusals leave too few parties
// to ever meet the quorum of kind k.
func quorumLost(self Party, k Kind, peers map[Party]PeerReport) (string, bool) {
	q := QuorumFor(k)
	members := q.All
	if len(members) == 0 {
		members = q.Among
	}
	var refused []string
	for _, p := range members {
		// A peer's veto reaches this node too and is judged here; a
		// peer's "vetoed" alone decides nothing.
		if r, ok := peers[p]; ok && p != self && r.Status.Terminal() && r.Status != StatusDone && r.Status != StatusVetoed {
			refused = append(refused, fmt.Sprintf("%s %s (%s)", p, r.Status, clipDetail(r.Reason)))
		}
	}
	lost := len(refused) > 0
	if len(q.All) == 0 {
		lost = len(members)-len(refused) < q.Any
	}
	return "quorum impossible: " + strings.Join(refused, "; "), lost
}

func peerDone(peers map[Party]PeerReport) bool {
	for _, r := range peers {
		if r.Status == StatusDone {
			return true
		}
	}
	return false
}

// clipDetail shortens a peer's free-text reason for a log or record.
func clipDetail(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
