package custody

import (
	"math/big"
	"time"
)

// Timeline is what one node knows about a request's age by its own clocks.
// The node persists it with the request.
//
// The notice period of an emergency unfreeze is measured twice and both must
// have passed: wall time since FirstSeen, and Witnessed, the monotonic time
// this node has watched the request while running (summed over restarts with
// a Stopwatch). A wall clock that jumps ahead (+49 h) moves the first but not
// the second, so it cannot open the window early; time spent down is not
// witnessed, so a restart cannot either. Lapse (48 h) is conservative the
// other way: either measure, or the requester's own CreatedAt, ends it.
type Timeline struct {
	FirstSeen time.Time     `json:"first_seen"` // this node's wall clock when it first stored the request
	Witnessed time.Duration `json:"witnessed"`  // monotonic time watched since
}

// Advance adds d of witnessed monotonic time.
func (t Timeline) Advance(d time.Duration) Timeline {
	if d > 0 {
		t.Witnessed += d
	}
	return t
}

// Endorsement is a party's recorded stance on a request: an approval or a
// veto, either automatic (this node's own policy) or from a verified
// operator signature.
type Endorsement struct {
	Party    Party     `json:"party"`
	Stance   Stance    `json:"stance"`
	Auto     bool      `json:"auto,omitempty"`     // node policy, no operator signature
	Operator string    `json:"operator,omitempty"` // operator key name when signed
	Nonce    string    `json:"nonce,omitempty"`
	At       time.Time `json:"at"`               // the recording node's clock
	Digest   string    `json:"digest,omitempty"` // hex SHA-256 of the signed approval
}

// Progress is the per-request part of a node's state; the store keeps it
// next to the request.
type Progress struct {
	Record    Record                `json:"record"`
	Timeline  Timeline              `json:"timeline"`
	Approvals map[Party]Endorsement `json:"approvals,omitempty"`
	Vetoes    map[Party]Endorsement `json:"vetoes,omitempty"`
}

// State is everything one node knows that bears on evaluating one request.
// It is this node's own view: counts are over its own store.
type State struct {
	Progress
	// Settlements maps a cap key (CapKey: a UTC day "2006-01-02", and a
	// cap class for liquidations) to the number of fund-moving requests of
	// that class this node has begun signing that day.
	Settlements map[string]int
	// Exposure maps an account to its open exposure in quote minor units,
	// as this node knows it (the exchange fills it from its margin engine).
	// A policy with require_zero_exposure refuses releases while it is > 0
	// and asks an operator when the account is missing.
	Exposure map[string]uint64
	// Credit maps an account to this node's mirrored-credit figure for it
	// (issue 13), which a liquidation's evidence must be consistent with.
	// The exchange's node fills it from the latest proof of holdings it
	// verified and a fresh signed price (holdings.CreditBook). Nil: this
	// node has no credit source and checks no liquidation against one; an
	// account missing from a non-nil map: nothing known yet, so the
	// liquidation waits.
	Credit map[string]CreditFacts
}

// CreditFacts is one account's credit figure as this node computed it.
type CreditFacts struct {
	// Unknown says why there is no figure now (no verified proof, a stale
	// or missing price); a liquidation waits rather than passes.
	Unknown string
	// Limit is the credit line, quote minor units: the haircut value of
	// the holdings in the proof at the signed price, times the leverage
	// cap. It is the maintenance line: an exposure at or under it is
	// covered, and a margin call on it is refused.
	Limit *big.Int
	// SnapshotTime and PriceTime date the proof and the price.
	SnapshotTime time.Time
	PriceTime    time.Time
}

// DayKey is the UTC day of t, the key of Settlements for the class "".
func DayKey(t time.Time) string { return t.UTC().Format("2006-01-02") }

// CapKey is the key of Settlements for a day and a cap class (Policy.CapOf).
func CapKey(day, class string) string {
	if class == "" {
		return day
	}
	return day + "/" + class
}

func (s State) approved(p Party, operatorOnly bool) bool {
	e, ok := s.Approvals[p]
	return ok && (!operatorOnly || !e.Auto)
}
