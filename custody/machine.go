package custody

import (
	"fmt"
	"time"
)

// Status is where a request is in its life.
//
//	proposed ──approve──▶ approved ──begin──▶ signing ──signed──▶ signed ──done──▶ done
//	    │                  ▲  │                  │
//	    │                  └──┼───abort──────────┘   (attempt failed; try again)
//	    └──reject/veto/lapse/fail──┴──▶ rejected | vetoed | lapsed | failed
//
//	proposed | approved ──observe──▶ signed   (a node outside the signing pair
//	                                           verified the pair's signature)
//
// A request that reached signed never re-enters signing: one request, at
// most one signature.
type Status string

// Statuses.
const (
	StatusProposed Status = "proposed"
	StatusApproved Status = "approved"
	StatusSigning  Status = "signing"
	StatusSigned   Status = "signed"
	StatusDone     Status = "done"
	StatusRejected Status = "rejected"
	StatusVetoed   Status = "vetoed"
	StatusLapsed   Status = "lapsed"
	StatusFailed   Status = "failed"
)

// Terminal reports whether no event can leave s.
func (s Status) Terminal() bool {
	switch s {
	case StatusDone, StatusRejected, StatusVetoed, StatusLapsed, StatusFailed:
		return true
	}
	return false
}

// EventType is what happened to a request.
type EventType string

// Events.
const (
	EvApprove EventType = "approve" // quorum reached and this node approves
	EvBegin   EventType = "begin"   // a signing attempt starts
	EvAbort   EventType = "abort"   // the attempt failed (deadline, blame); may retry
	EvSigned  EventType = "signed"  // a valid signature exists
	EvDone    EventType = "done"    // transaction finalised / broadcast
	EvReject  EventType = "reject"  // policy refused for good
	EvVeto    EventType = "veto"    // a verified veto
	EvLapse   EventType = "lapse"   // emergency unfreeze passed 48 h
	EvFail    EventType = "fail"    // given up (attempts spent, or an operator)
	// EvObserve: a node that is not one of the signers verified the
	// signature its peers made (observer, or a party the quorum did not need).
	EvObserve EventType = "observe"
)

// Event drives Transition.
type Event struct {
	Type   EventType
	At     time.Time
	Reason string // short, no key material
	// MaxAttempts bounds signing attempts for EvBegin (0: no bound).
	MaxAttempts int
	// Uncapped marks an EvBegin that the daily settlement cap does not
	// count: a drill on a canary key (Policy.CountsTowardCap).
	Uncapped bool
	// Cap is the cap class an EvBegin counts against (Policy.CapOf).
	Cap string
}

// Record is the lifecycle state of one request.
type Record struct {
	ID        string    `json:"id"`
	Status    Status    `json:"status"`
	Attempts  int       `json:"attempts"` // signing attempts begun
	UpdatedAt time.Time `json:"updated_at"`
	Reason    string    `json:"reason,omitempty"`
}

// NewRecord is the record of a freshly proposed request.
func NewRecord(id string, at time.Time) Record {
	return Record{ID: id, Status: StatusProposed, UpdatedAt: normTime(at)}
}

// transitions lists, for each event, the statuses it may leave and where it
// goes. Anything not listed is illegal.
var transitions = map[EventType]struct {
	from []Status
	to   Status
}{
	EvApprove: {[]Status{StatusProposed}, StatusApproved},
	EvBegin:   {[]Status{StatusApproved}, StatusSigning},
	EvAbort:   {[]Status{StatusSigning}, StatusApproved},
	EvSigned:  {[]Status{StatusSigning}, StatusSigned},
	EvDone:    {[]Status{StatusSigned}, StatusDone},
	EvReject:  {[]Status{StatusProposed, StatusApproved}, StatusRejected},
	EvVeto:    {[]Status{StatusProposed, StatusApproved}, StatusVetoed},
	EvLapse:   {[]Status{StatusProposed, StatusApproved}, StatusLapsed},
	EvFail:    {[]Status{StatusProposed, StatusApproved}, StatusFailed},
	EvObserve: {[]Status{StatusProposed, StatusApproved}, StatusSigned},
}

// Transition applies ev to r. It is pure; an illegal event returns r
// unchanged and an error wrapping ErrIllegalTransition (or
// ErrTooManyAttempts).
func Transition(r Record, ev Event) (Record, error) {
	t, ok := transitions[ev.Type]
	if !ok {
		return r, fmt.Errorf("applying event %q to request %.12s: %w: unknown event", ev.Type, r.ID, ErrIllegalTransition)
	}
	legal := false
	for _, s := range t.from {
		legal = legal || s == r.Status
	}
	if !legal {
		return r, fmt.Errorf("applying event %q to request %.12s in status %s: %w", ev.Type, r.ID, r.Status, ErrIllegalTransition)
	}
	if ev.Type == EvBegin && ev.MaxAttempts > 0 && r.Attempts >= ev.MaxAttempts {
		return r, fmt.Errorf("beginning signing attempt %d of request %.12s: %w (max %d)", r.Attempts+1, r.ID, ErrTooManyAttempts, ev.MaxAttempts)
	}
	next := r
	next.Status = t.to
	next.UpdatedAt = normTime(ev.At)
	next.Reason = clipReason(ev.Reason)
	if ev.Type == EvBegin {
		next.Attempts++
	}
	return next, nil
}

func clipReason(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}
