package custody

import (
	"fmt"
	"strings"
	"time"
)

// Verdict is one node's stance on a request.
type Verdict string

// Verdicts.
const (
	VerdictApprove      Verdict = "approve"       // this node will sign
	VerdictNeedOperator Verdict = "need_operator" // this node waits for its operator's signed approval
	VerdictRefuse       Verdict = "refuse"        // this node will not sign
)

// Reason explains a verdict. Code is stable (for tests, metrics and
// clients); Detail is for people. Neither carries key material.
type Reason struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// Reason codes.
const (
	ReasonMalformed         = "malformed"
	ReasonStatus            = "status"
	ReasonVetoed            = "vetoed"
	ReasonNotSigner         = "not_signer"
	ReasonRequester         = "requester"
	ReasonFuture            = "created_in_future"
	ReasonRawDigest         = "raw_digest"
	ReasonKey               = "key"
	ReasonAccount           = "account"
	ReasonAsset             = "asset"
	ReasonAmountCap         = "amount_cap"
	ReasonFeeCap            = "fee_cap"
	ReasonDailyCap          = "daily_cap"
	ReasonDestination       = "destination"
	ReasonExposure          = "exposure"
	ReasonEvidenceSignature = "evidence_signature"
	ReasonEvidenceStale     = "evidence_stale"
	ReasonEvidenceMismatch  = "evidence_mismatch"
	ReasonOverShortfall     = "over_shortfall"
	ReasonShortfallExposure = "shortfall_exceeds_exposure"
	ReasonLeverage          = "leverage"
	ReasonCreditCovers      = "credit_covers"  // the proof's collateral still covers the exposure
	ReasonCreditUnknown     = "credit_unknown" // no verified proof or fresh price yet: waits
	ReasonNotOpened         = "not_opened"
	ReasonTooEarly          = "too_early"
	ReasonLapsed            = "lapsed"
	ReasonOperatorApproval  = "operator_approval"
)

// Decision is the result of Evaluate.
type Decision struct {
	Verdict Verdict  `json:"verdict"`
	Reasons []Reason `json:"reasons,omitempty"`
	// Auto: the approval comes from this node's policy, not its operator;
	// the node records an automatic endorsement and tells its peers.
	Auto bool `json:"auto,omitempty"`
	// Signers is the deterministic signer set once the quorum is met.
	Signers []Party `json:"signers,omitempty"`
	// Ready: this node approves, the quorum is met and it is a signer; it
	// may begin (or join) a signing attempt.
	Ready bool `json:"ready,omitempty"`
	// RetryAt is set on a refusal that only time can lift (notice period).
	RetryAt time.Time `json:"retry_at,omitzero"`
}

// Has reports whether the decision carries a reason with this code.
func (d Decision) Has(code string) bool {
	for _, r := range d.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

// Transient reports whether every reason of a refusal can still go away:
// the notice period ends, the opener's signed approval arrives, the
// requester's clock was only a little ahead, a credit figure (a verified
// proof and a fresh price) becomes known. Anything else is final.
func (d Decision) Transient() bool {
	for _, r := range d.Reasons {
		switch r.Code {
		case ReasonTooEarly, ReasonNotOpened, ReasonFuture, ReasonCreditUnknown:
		default:
			return false
		}
	}
	return len(d.Reasons) > 0
}

// Summary lists the reasons as "code: detail; code: detail".
func (d Decision) Summary() string {
	codes := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		codes[i] = r.Code + ": " + r.Detail
	}
	return strings.Join(codes, "; ")
}

// String is a one-line summary used in logs and golden tests.
func (d Decision) String() string {
	var b strings.Builder
	b.WriteString(string(d.Verdict))
	if d.Auto {
		b.WriteString(" (auto)")
	}
	if d.Ready {
		fmt.Fprintf(&b, " ready signers=%s", JoinParties(d.Signers))
	}
	for i, r := range d.Reasons {
		if i == 0 {
			b.WriteString(":")
		} else {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s (%s)", r.Code, r.Detail)
	}
	return b.String()
}

// JoinParties is ps as "custodian+exchange": how signers are shown.
func JoinParties(ps []Party) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, "+")
}
