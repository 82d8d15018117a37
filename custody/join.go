package custody

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SignProposal is what a coordinator asks of a signer: one threshold
// signature of one digest of one request. The payload arrives decoded
// (Request, or PayloadErr); a proposal without payload is the raw-digest
// drill path (Raw).
type SignProposal struct {
	KeyID        string
	Session      string // "<request>/<input>/<attempt>" (SessionName); the drill nonce on the raw path
	Digest       []byte
	ChildPath    string
	Participants []Party
	Raw          bool
	Request      Request
	PayloadErr   error
}

// JoinFacts is this node's own view of a proposal, gathered before the
// decision: from its own digests, its own chain node, its own store and
// its own clock. Nothing in it comes from the proposer.
type JoinFacts struct {
	// Digests are the digests this node computes for the proposed request
	// and its plan (DigestErr: it computes none).
	Digests   [][32]byte
	DigestErr error
	// PlanErr is the check of the plan's inputs on this node's own chain
	// node: nil when every input checked out, or when there is no plan and
	// none is needed.
	PlanErr error
	// Stored is false while the request is not yet in this node's store;
	// StoreErr is a failure to read it.
	Stored   bool
	StoreErr error
	// State is this node's state of the request at Now, with the exposure
	// it knows (StateErr: it could not be read).
	State    State
	StateErr error
	// OwnAttempt is the attempt this node coordinates for the request, ""
	// if none.
	OwnAttempt string
	// LiveWith is the coordinator of a session this node joined for the
	// same request and digest that is still live, "" if none.
	LiveWith Party
	Now      time.Time
}

// JoinVerdict is a signer's answer to a proposal.
type JoinVerdict string

// Join verdicts.
const (
	JoinYes    JoinVerdict = "join"   // contribute a share
	JoinWait   JoinVerdict = "wait"   // a fact is still in flight; ask again shortly
	JoinRefuse JoinVerdict = "refuse" // will not sign this
	joinUnset  JoinVerdict = ""       // the proposal's own checks passed; the rest decides
)

// JoinStep is a state change the signer applies, in order, when it joins.
// A step marked BestEffort may fail without undoing the join.
type JoinStep struct {
	Event      EventType
	Reason     string
	BestEffort bool
}

// JoinDecision is the answer of DecideJoin. On JoinYes it names exactly
// what this node signs: the key, the child path and the digest (input
// Session.Input of the request), with the partner it signs with.
type JoinDecision struct {
	Verdict JoinVerdict
	// Reason says why not (JoinWait, JoinRefuse); Cause, when set, is the
	// underlying error (a plan's chain check), to be wrapped after Reason.
	Reason string
	Cause  error

	Session   SessionName
	KeyID     string
	ChildPath string
	Digest    [32]byte
	Partner   Party
	// Own: the proposal is this node's own attempt; checked, nothing to
	// record or change.
	Own bool
	// Reserve: lock the plan (its coins, or its EVM plan) to the request
	// before signing.
	Reserve bool
	// Steps move the request to signing here (approve, begin; or abort
	// the previous attempt and begin).
	Steps []JoinStep
	// Policy is this node's policy decision on the request.
	Policy Decision
}

// DecideJoin is the one decision whether this node contributes a share to
// a signing session. It is pure: a function of this node's policy, the
// proposal and the facts the node gathered itself (its own digests, its
// own chain node's answer, its own store and clock). Coordinator and
// partner both ask it, the coordinator for its own proposal.
//
// It refuses a proposal whose session does not name the payload's
// request, whose key, child path or digest is not what this node computes,
// whose participants do not include this node; a plan that did not check
// out on this node's chain node; a request this node's policy refuses; and
// a second live session for the same digest with another coordinator; and
// an EVM plan proposed by a party other than the pair's NonceAssigner. It
// waits while the request is not stored here, while this node's operator
// or the quorum's approvals are still missing here, and while only time
// can lift a refusal (notice period, a requester's clock a little ahead).
func DecideJoin(p Policy, prop SignProposal, f JoinFacts) JoinDecision {
	if prop.Raw {
		if err := CheckRawDrill(p, prop.KeyID, prop.Session, prop.Digest); err != nil {
			return JoinDecision{Verdict: JoinRefuse, Cause: err}
		}
		return JoinDecision{Verdict: JoinYes, KeyID: prop.KeyID}
	}
	d := CheckSignProposal(p.Party, prop, f.Digests, f.DigestErr)
	if d.Verdict != joinUnset {
		return d
	}
	if f.PlanErr != nil {
		return refuseJoin("plan", f.PlanErr)
	}
	switch {
	case f.StoreErr != nil:
		return refuseJoin(f.StoreErr.Error(), nil)
	case !f.Stored:
		return waitJoin(fmt.Sprintf("request %.12s not stored here yet", prop.Request.ID()))
	case f.OwnAttempt != "" && f.OwnAttempt != d.Session.Attempt:
		return refuseJoin(fmt.Sprintf("this node is coordinating its own attempt for %.12s", prop.Request.ID()), nil)
	case f.StateErr != nil:
		return refuseJoin(f.StateErr.Error(), nil)
	}
	own := f.OwnAttempt == d.Session.Attempt
	if proposer := proposerOf(p.Party, d.Partner, own); prop.Request.EVM != nil && proposer != NonceAssigner(prop.Participants) {
		return refuseJoin(fmt.Sprintf("EVM plan proposed by %s; %s assigns this pair's nonces", proposer, NonceAssigner(prop.Participants)), nil)
	}
	if v := decidePolicy(p, prop, f, own, &d); v != joinUnset {
		d.Verdict = v
		return d
	}
	if own {
		d.Verdict, d.Own = JoinYes, true // this node's own attempt: checked, nothing to record
		return d
	}
	if f.LiveWith != "" && f.LiveWith != d.Partner {
		return refuseJoin(fmt.Sprintf("a session with %s for this request is live", f.LiveWith), nil)
	}
	return joinSteps(d, f.State.Record.Status, prop.Participants)
}

// proposerOf is the party that proposed the session: this node on its
// own attempt, else its partner.
func proposerOf(self, partner Party, own bool) Party {
	if own {
		return self
	}
	return partner
}

// BatchMemberFacts is a batch partner's own view of one member of a
// batch it is asked to sign in: the member's status as stored before this
// node stepped it (and why), then its state at Now, with the exposure
// this node knows (StateErr: it could not be read).
type BatchMemberFacts struct {
	Status   Status
	Reason   string
	State    State
	StateErr error
	Now      time.Time
}

// DecideBatchMember is a batch partner's decision on one member, of
// DecideJoin's shape and with its policy and quorum checks: JoinYes;
// JoinWait while something may still change (only time can lift a
// refusal, an operator or a quorum approval still missing here); else
// JoinRefuse, with Reason. The batch's own checks (its document, digests
// and coins) are the caller's, before it asks for each member.
func DecideBatchMember(p Policy, req Request, participants []Party, f BatchMemberFacts) JoinDecision {
	switch {
	case f.Status.Terminal() || f.Status == StatusSigned:
		return refuseJoin(fmt.Sprintf("%s here: %s", f.Status, f.Reason), nil)
	case f.StateErr != nil:
		return refuseJoin(f.StateErr.Error(), nil)
	case f.State.Record.Status.Terminal():
		return refuseJoin(fmt.Sprintf("%s here: %s", f.State.Record.Status, f.State.Record.Reason), nil)
	}
	var d JoinDecision
	prop := SignProposal{Request: req, Participants: participants}
	if v := decidePolicy(p, prop, JoinFacts{State: f.State, Now: f.Now}, false, &d); v != joinUnset {
		d.Verdict = v
		return d
	}
	d.Verdict = JoinYes
	return d
}

// CheckSignProposal is DecideJoin's first step: the proposal against the
// digests this node computes, before anything is looked up. A caller may
// run it early to spare its chain node a proposal that fails anyway; its
// Verdict is "" when the proposal passes.
func CheckSignProposal(self Party, prop SignProposal, digests [][32]byte, digestErr error) JoinDecision {
	if prop.PayloadErr != nil {
		return refuseJoin(fmt.Sprintf("payload: %v", prop.PayloadErr), nil)
	}
	req := prop.Request
	name, err := ParseSessionName(prop.Session)
	if err != nil || name.Request != req.ID() {
		return refuseJoin("session request ID does not name the payload's request", nil)
	}
	switch {
	case prop.KeyID != req.KeyID || prop.ChildPath != req.ChildPath:
		return refuseJoin("key or child path differs from the request's", nil)
	case digestErr != nil:
		return refuseJoin(fmt.Sprintf("no digest %q for this request: %v", strings.Split(prop.Session, "/")[1], digestErr), nil)
	case name.Input >= len(digests):
		return refuseJoin(fmt.Sprintf("no digest %q for this request", strings.Split(prop.Session, "/")[1]), nil)
	case !bytes.Equal(prop.Digest, digests[name.Input][:]):
		return refuseJoin("digest is not the one this node computes from the request", nil)
	case len(prop.Participants) != 2 || !slices.Contains(prop.Participants, self):
		return refuseJoin(fmt.Sprintf("participants %v", prop.Participants), nil)
	}
	partner := prop.Participants[0]
	if partner == self {
		partner = prop.Participants[1]
	}
	return JoinDecision{Session: name, KeyID: req.KeyID, ChildPath: req.ChildPath, Digest: digests[name.Input],
		Partner: partner, Reserve: len(req.Inputs) > 0 || req.EVM != nil}
}

// decidePolicy runs this node's policy on the request and checks that the
// participants are an approved quorum in its own view; it returns "" when
// both agree.
func decidePolicy(p Policy, prop SignProposal, f JoinFacts, own bool, d *JoinDecision) JoinVerdict {
	req, st := prop.Request, f.State
	d.Policy = Evaluate(p, st, req, f.Now)
	switch d.Policy.Verdict {
	case VerdictRefuse:
		d.Reason = "policy: " + d.Policy.Summary()
		if d.Policy.Transient() && !own {
			// Not yet by this node's clock, or a fact still in flight:
			// wait rather than decline at once.
			return JoinWait
		}
		return JoinRefuse
	case VerdictNeedOperator:
		d.Reason = d.Policy.Summary()
		return JoinWait
	}
	operatorOnly := req.Kind == KindUnfreeze || req.Kind == KindCanary
	signers := QuorumFor(req.Kind).Signers(func(q Party) bool {
		if !slices.Contains(prop.Participants, q) {
			return false
		}
		a, ok := st.Approvals[q]
		return q == p.Party || ok && (!operatorOnly || !a.Auto)
	})
	if len(signers) == len(prop.Participants) {
		return joinUnset
	}
	if own { // this node's own attempt: its view is the one that counts
		d.Reason = fmt.Sprintf("participants %v are not an approved quorum here", prop.Participants)
		return JoinRefuse
	}
	d.Reason = fmt.Sprintf("participants %v are not an approved quorum here yet", prop.Participants)
	return JoinWait
}

// joinSteps are the state changes that take the request to signing here.
func joinSteps(d JoinDecision, status Status, participants []Party) JoinDecision {
	joining := JoinStep{Event: EvBegin, Reason: "joining " + string(d.Partner) + "'s attempt"}
	switch status {
	case StatusProposed: // approves, but its default pair was another one (failover)
		d.Steps = []JoinStep{{Event: EvApprove, Reason: "quorum " + JoinParties(participants)}, joining}
	case StatusApproved:
		d.Steps = []JoinStep{joining}
	case StatusSigning:
		if d.Session.Input == 0 { // a new attempt: the previous one is over
			d.Steps = []JoinStep{{Event: EvAbort, Reason: "coordinator began a new attempt", BestEffort: true}, joining}
		}
	default:
		return waitJoin(fmt.Sprintf("request is %s here", status))
	}
	d.Verdict = JoinYes
	return d
}

func refuseJoin(reason string, cause error) JoinDecision {
	return JoinDecision{Verdict: JoinRefuse, Reason: reason, Cause: cause}
}

func waitJoin(reason string) JoinDecision { return JoinDecision{Verdict: JoinWait, Reason: reason} }
