package custody

import "fmt"

// Party is one of the three institutions that each run a node and hold one
// share of every custody key.
type Party string

// The three parties.
const (
	Custodian Party = "custodian"
	Exchange  Party = "exchange"
	Regulator Party = "regulator"
)

// Parties lists the parties in their fixed order. Anything that must be
// deterministic across nodes (signer choice, output order) uses this order.
var Parties = []Party{Custodian, Exchange, Regulator}

// Valid reports whether p is one of the three parties.
func (p Party) Valid() bool {
	return p == Custodian || p == Exchange || p == Regulator
}

// Kind is the action a request asks for.
type Kind string

// Request kinds.
const (
	KindRelease     Kind = "collateral_release"
	KindLiquidation Kind = "liquidation"
	KindUnfreeze    Kind = "emergency_unfreeze"
	KindCanary      Kind = "canary" // admin drill: raw-digest signing with a canary key
)

// Kinds lists every request kind.
var Kinds = []Kind{KindRelease, KindLiquidation, KindUnfreeze, KindCanary}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case KindRelease, KindLiquidation, KindUnfreeze, KindCanary:
		return true
	}
	return false
}

// MovesFunds reports whether a request of this kind spends custody funds and
// so counts against the daily settlement cap.
func (k Kind) MovesFunds() bool {
	return k == KindRelease || k == KindLiquidation || k == KindUnfreeze
}

// Quorum says which parties must approve a kind before it may be signed.
type Quorum struct {
	// All parties listed must approve (release, liquidation).
	All []Party
	// Otherwise, Any distinct parties out of Among must approve.
	Any   int
	Among []Party
}

// QuorumFor returns the approval rule for a kind.
//
//	collateral_release:  custodian + exchange
//	liquidation:         exchange + custodian
//	emergency_unfreeze:  any two parties
//	canary:              any two parties' operators
//
// The regulator signs only emergencies, drills and reshares: it is never
// part of a release or liquidation quorum.
func QuorumFor(k Kind) Quorum {
	switch k {
	case KindRelease, KindLiquidation:
		return Quorum{All: []Party{Custodian, Exchange}}
	default:
		return Quorum{Any: 2, Among: Parties}
	}
}

// Signers returns the deterministic signer set for the approving parties, or
// nil when the quorum is not met. approved reports whether a party approved.
func (q Quorum) Signers(approved func(Party) bool) []Party {
	if len(q.All) > 0 {
		for _, p := range q.All {
			if !approved(p) {
				return nil
			}
		}
		return append([]Party(nil), q.All...)
	}
	var out []Party
	for _, p := range q.Among {
		if approved(p) && len(out) < q.Any {
			out = append(out, p)
		}
	}
	if len(out) < q.Any {
		return nil
	}
	return out
}

// Includes reports whether p can ever be part of the quorum.
func (q Quorum) Includes(p Party) bool {
	list := q.All
	if len(list) == 0 {
		list = q.Among
	}
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}

func (q Quorum) String() string {
	if len(q.All) > 0 {
		return fmt.Sprintf("all of %v", q.All)
	}
	return fmt.Sprintf("any %d of %v", q.Any, q.Among)
}
