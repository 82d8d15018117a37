package custody

import "fmt"

// OutcomeKind is how something this node started or awaited for one
// request ended.
type OutcomeKind string

// Outcomes, as the service learns them and hands them to Step.
const (
	// OutcomeSigned: the attempt this node coordinates produced the whole
	// signature, verified and stored. Signers may be another pair than the
	// one the step chose (the node failed over within the attempt).
	OutcomeSigned OutcomeKind = "signed"
	// OutcomeFailed: the attempt this node coordinates ended without it:
	// the partner declined, timed out or misbehaved, planning or
	// verifying failed (Err says which).
	OutcomeFailed OutcomeKind = "failed"
	// OutcomePeerSigned: a peer's signature of the request, verified here
	// against this node's own digests and key, is stored; Coordinator made
	// it. It may arrive after this node's own attempt was aborted.
	OutcomePeerSigned OutcomeKind = "peer-signed"
	// OutcomeRestarted: the node restarted with the request signing; the
	// attempt died with the process. Complete: the whole signature was
	// stored before (Coordinator's).
	OutcomeRestarted OutcomeKind = "restarted"
	// OutcomeFinish: the request is signed here (a liquidation batch's
	// member, whose batch run recorded it): finish it as Coordinator's.
	OutcomeFinish OutcomeKind = "finish"
	// OutcomeFinalized: the coordinator's finalizer (the broadcast)
	// returned; Err is its failure, if any.
	OutcomeFinalized OutcomeKind = "finalized"
	// OutcomeConfirmed: this node's own chain node answered about the
	// request's transaction: Found (else there is none to follow, as for
	// a coinless canary drill), TxID, Confirmations, and Err, the last
	// broadcast or lookup failure it recorded.
	OutcomeConfirmed OutcomeKind = "confirmed"
	// OutcomeSpent: the store refused to begin an attempt: attempts spent.
	OutcomeSpent OutcomeKind = "spent"
	// OutcomeCapped: the store refused to begin an attempt: the day's
	// settlement cap is reached.
	OutcomeCapped OutcomeKind = "capped"
)

// Outcome is one outcome of a request's signing or settlement, the input of
// a step of its own (StepInput.Outcome).
type Outcome struct {
	Kind          OutcomeKind
	Signers       []Party // signed, peer-signed
	Coordinator   Party   // peer-signed, restarted, finish
	Complete      bool    // restarted
	Err           string  // failed, finalized, confirmed
	Found         bool    // confirmed
	TxID          string  // confirmed
	Confirmations int64   // confirmed
}

// NoteKind is what an EffectNote records.
type NoteKind string

// Notes.
const (
	// NoteFailure: audit Reason as a failure and emit it (Detail).
	NoteFailure NoteKind = "failure"
	// NoteSigned: emit that By's attempt signed the request (Detail: the
	// signers).
	NoteSigned NoteKind = "signed"
)

// stepOutcome is Step for an input carrying an outcome: it records the
// outcome and stops. The next step (a tick, a peer's message) moves the
// request on, as for any other change.
//
// An attempt that failed is aborted (counted when it began) and, once
// MaxSigningAttempts are spent, the request fails. A signature, this
// node's or a peer's it verified, moves the request to signed; it is done
// at once when the signature is the product (no finalizer), else the
// coordinator finalizes (broadcasts) and a node with a chain node of its
// own follows the transaction until a block of it holds it (done means
// paid); a node without one follows a peer's "done" (Step).
func stepOutcome(p Policy, s StepState, in StepInput) Output {
	var o Output
	out, rec := in.Outcome, s.State.Record
	switch out.Kind {
	case OutcomeFailed:
		o.note(NoteFailure, "", out.Err, clipDetail(out.Err))
		if rec.Status == StatusSigning {
			o.persist(EvAbort, clipDetail(out.Err))
			if rec.Attempts >= p.MaxSigningAttempts {
				o.persist(EvFail, "signing attempts spent: "+clipDetail(out.Err))
			}
		}
		o.publish()
	case OutcomeSigned:
		if rec.Status == StatusSigning {
			o.persist(EvSigned, "signed by "+JoinParties(out.Signers))
		}
		o.note(NoteSigned, p.Party, "", JoinParties(out.Signers))
		o.finish(p.Party, p.Party, in)
	case OutcomePeerSigned:
		o.peerSigned(rec.Status, out, in)
	case OutcomeRestarted:
		if !out.Complete {
			o.persist(EvAbort, "node restarted during the signing attempt")
			break
		}
		o.persist(EvSigned, "signature stored before restart")
		o.finish(p.Party, out.Coordinator, in)
	case OutcomeFinish:
		o.finish(p.Party, out.Coordinator, in)
	case OutcomeFinalized:
		o.finalized(out.Err, in)
	case OutcomeConfirmed:
		o.confirmed(rec.Status, out)
	case OutcomeSpent:
		o.persist(EvFail, "signing attempts spent")
	case OutcomeCapped:
		o.persist(EvReject, "daily settlement cap reached")
	}
	return o
}

// finish ends a request signed here: done at once when the signature is
// the product; else the coordinator finalizes, and another node follows
// the transaction on its own chain node.
func (o *Output) finish(self, coordinator Party, in StepInput) {
	switch {
	case !in.Finalizes:
		o.persist(EvDone, "signature is the product")
		o.publish()
	case coordinator != self:
		o.add(Effect{Kind: EffectTrack})
	default:
		o.add(Effect{Kind: EffectFinalize})
	}
}

// peerSigned records a peer's verified signature: signed where this node
// was signing or had not begun (it observed, or its own attempt was
// aborted before the signature arrived), nothing once further on.
func (o *Output) peerSigned(st Status, out *Outcome, in StepInput) {
	why := "signed by " + JoinParties(out.Signers)
	switch st {
	case StatusSigning:
		o.persist(EvSigned, why)
	case StatusProposed, StatusApproved:
		o.persist(EvObserve, why)
	default:
		return
	}
	o.note(NoteSigned, out.Coordinator, "", JoinParties(out.Signers))
	switch {
	case !in.Finalizes:
		o.persist(EvDone, "signature is the product")
	case !in.PeerFinalizes:
		o.add(Effect{Kind: EffectTrack})
	}
}

// finalized follows the coordinator's broadcast: a failure is recorded
// (the request stays signed); with a chain node of its own the node waits
// for a block to hold the transaction, without one it is done.
func (o *Output) finalized(err string, in StepInput) {
	switch {
	case err != "":
		o.note(NoteFailure, "", "finalize: "+err, "finalize: "+clipDetail(err))
		return
	case !in.PeerFinalizes:
		o.add(Effect{Kind: EffectTrack})
	default:
		o.persist(EvDone, "finalized")
	}
	o.publish()
}

// confirmed makes a signed request done once this node's own chain node
// shows its transaction in a block, or has none to follow.
func (o *Output) confirmed(st Status, out *Outcome) {
	switch {
	case st != StatusSigned:
		return
	case !out.Found:
		o.persist(EvDone, "signature is the product")
	case out.Confirmations >= 1 && out.Err == "":
		o.persist(EvDone, fmt.Sprintf("confirmed: txid %s in a block", out.TxID))
	default:
		return
	}
	o.publish()
}

func (o *Output) note(k NoteKind, by Party, reason, detail string) {
	o.add(Effect{Kind: EffectNote, Note: k, By: by, Reason: reason, Detail: detail})
}

func (o *Output) publish() { o.add(Effect{Kind: EffectPublish}) }

func (o *Output) add(e Effect) { o.Effects = append(o.Effects, e) }

// noteString renders an EffectNote.
func (e Effect) noteString() string {
	if e.Note == NoteSigned {
		return fmt.Sprintf("note signed by %s (%s)", e.By, e.Detail)
	}
	return "note failure (" + e.Detail + ")"
}
