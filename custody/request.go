package custody

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Bounds on request fields. Anything outside is refused by Validate.
const (
	MaxRequestBytes = 16 << 10  // encoded request, evidence included
	MaxAmount       = 1<<53 - 1 // integer base units (satoshis); JSON-safe
	MaxFeeRate      = 100_000   // sat/vB
	MaxReasonLen    = 512       // bytes
	MaxChildDepth   = 8         // BIP32 path components
	maxIdentLen     = 128       // idempotency keys, callers, accounts, ...
	maxAddressLen   = 128       // destination addresses
	requestDomain   = "triad/request/v1\n"
	nonHardenedMax  = 1<<31 - 1
	minYear         = 2000
	maxYear         = 2200
)

// Requester says who asked: the party whose node accepted the request, and
// the caller inside that party (e.g. "margin-engine", an operator name).
type Requester struct {
	Party  Party  `json:"party"`
	Caller string `json:"caller"`
}

// Request is one typed custody action. Every node evaluates the same Request;
// its ID is the SHA-256 of its canonical encoding without Inputs, so any
// change to what the caller asked (evidence included) makes a different
// request, while the coins the nodes choose to pay it (its plan) do not.
type Request struct {
	Kind           Kind      `json:"kind"`
	IdempotencyKey string    `json:"idempotency_key"`
	Requester      Requester `json:"requester"`
	Account        string    `json:"account,omitempty"`    // custody account (not for canary)
	KeyID          string    `json:"key_id"`               // custody or canary key
	ChildPath      string    `json:"child_path,omitempty"` // non-hardened BIP32 path, e.g. "m/0/42"
	Asset          string    `json:"asset,omitempty"`      // e.g. "BTC"
	Destination    string    `json:"destination,omitempty"`
	Amount         uint64    `json:"amount,omitempty"` // base units (satoshis), at most MaxAmount
	// Units is the amount of an EVM asset in base units as a decimal
	// string, exactly, for amounts over MaxAmount (an 18-decimal token);
	// a request carries Amount or Units, not both. Part of the ID.
	Units     string      `json:"units,omitempty"`
	FeeRate   uint64      `json:"fee_rate,omitempty"` // sat/vB; Bitcoin assets only (Policy.CheckFeeRate)
	Reason    string      `json:"reason,omitempty"`   // required for emergency_unfreeze
	Digest    string      `json:"digest,omitempty"`   // canary only: hex SHA-256 to sign raw
	CreatedAt time.Time   `json:"created_at"`         // the requester's clock; never trusted for timing
	Evidence  *MarginCall `json:"evidence,omitempty"` // liquidation only
	Inputs    []Input     `json:"inputs,omitempty"`   // the plan: coins the nodes chose (inputs.go); not part of the ID
	EVM       *EVMPlan    `json:"evm,omitempty"`      // the plan on an EVM chain (evmplan.go); not part of the ID
	// Replaces is the ID of a request whose signed EVM transaction is
	// stuck: this request pays the same transfer at the same nonce with
	// higher fees (custody/evm: CheckReplacement). Part of the ID.
	Replaces string `json:"replaces,omitempty"`
}

// Base returns r without its plan: what the caller asked and every node
// stores.
func (r Request) Base() Request {
	r.Inputs, r.EVM = nil, nil
	return r
}

// WithInputs returns r paid by ins (its plan).
func (r Request) WithInputs(ins []Input) Request {
	r.Inputs = ins
	return r
}

// Normalize returns r with times in UTC at millisecond precision and no
// monotonic reading, so equal requests encode to equal bytes.
func (r Request) Normalize() Request {
	r.CreatedAt = normTime(r.CreatedAt)
	if r.Evidence != nil {
		ev := r.Evidence.normalize()
		r.Evidence = &ev
	}
	return r
}

func normTime(t time.Time) time.Time {
	return t.Round(0).UTC().Truncate(time.Millisecond)
}

// Canonical returns the deterministic encoding used for the ID, signatures
// and peer messages: JSON of the normalized request, fields in declaration
// order, no insignificant whitespace.
func (r Request) Canonical() []byte {
	b, err := json.Marshal(r.Normalize())
	if err != nil { // cannot happen: only strings, integers and times
		panic(fmt.Sprintf("custody: encoding request: %v", err))
	}
	return b
}

// ID is the hex SHA-256 of the domain-separated canonical encoding of the
// caller's content: every field but the plan (Inputs, EVM). The coins a request spends are
// chosen and reserved by the nodes when it is signed, so the same request
// sent twice is one request whatever coins are free at the time, and a
// request with its plan (the signing payload) names the request it pays.
func (r Request) ID() string {
	r.Inputs, r.EVM = nil, nil
	h := sha256.New()
	h.Write([]byte(requestDomain))
	h.Write(r.Canonical())
	return hex.EncodeToString(h.Sum(nil))
}

// Validate checks structure and bounds; it needs no policy. Policy checks
// (limits, allowlists, signatures) are Evaluate's job.
func (r Request) Validate() error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("validating request: %w", err)
	}
	return nil
}

func (r Request) validate() error {
	if !r.Kind.Valid() {
		return malformed("kind", "unknown kind %q", clip(string(r.Kind)))
	}
	if err := checkIdent("idempotency_key", r.IdempotencyKey); err != nil {
		return err
	}
	if !r.Requester.Party.Valid() {
		return malformed("requester.party", "unknown party %q", clip(r.Requester.Party))
	}
	if err := checkIdent("requester.caller", r.Requester.Caller); err != nil {
		return err
	}
	if err := checkIdent("key_id", r.KeyID); err != nil {
		return err
	}
	if r.ChildPath != "" {
		if _, err := ParseChildPath(r.ChildPath); err != nil {
			return err
		}
	}
	if err := checkTime("created_at", r.CreatedAt); err != nil {
		return err
	}
	if len(r.Reason) > MaxReasonLen || !printable(r.Reason) {
		return malformed("reason", "must be at most %d printable bytes", MaxReasonLen)
	}
	if r.Kind == KindCanary {
		return r.validateCanary()
	}
	return r.validateTransfer()
}

func (r Request) validateCanary() error {
	if r.Account != "" || r.Asset != "" || r.Destination != "" || r.Amount != 0 || r.Units != "" || r.FeeRate != 0 || r.Evidence != nil || len(r.Inputs) != 0 || r.EVM != nil || r.Replaces != "" {
		return malformed("kind", "canary carries only key_id, digest and reason")
	}
	if b, err := hex.DecodeString(r.Digest); err != nil || len(b) != sha256.Size || strings.ToLower(r.Digest) != r.Digest {
		return malformed("digest", "must be 64 lower-case hex characters")
	}
	return nil
}

// validateAmount: Amount 1..MaxAmount, or Units a positive decimal
// integer of at most 78 digits (a uint256), not both.
func (r Request) validateAmount() error {
	switch {
	case r.Units != "" && r.Amount != 0:
		return malformed("units", "a request carries amount or units, not both")
	case r.Units != "":
		if err := checkWei("units", r.Units); err != nil || r.Units == "0" {
			return malformed("units", "must be a positive decimal integer of base units, at most %d digits, without leading zeros", maxWeiDigits)
		}
	case r.Amount == 0 || r.Amount > MaxAmount:
		return malformed("amount", "must be 1..%d base units (units, a decimal string, for more)", uint64(MaxAmount))
	}
	return nil
}

// BaseUnits is the amount r moves in base units: Units, exactly, when
// set, else Amount.
func (r Request) BaseUnits() *big.Int {
	if r.Units != "" {
		if v, ok := new(big.Int).SetString(r.Units, 10); ok {
			return v
		}
		return new(big.Int) // invalid: Validate refuses it
	}
	return new(big.Int).SetUint64(r.Amount)
}

// isRequestID reports whether s has the form of a request ID.
func isRequestID(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size && strings.ToLower(s) == s
}

func (r Request) validateTransfer() error {
	if r.Digest != "" {
		return malformed("digest", "only canary requests carry a raw digest")
	}
	if err := checkIdent("account", r.Account); err != nil {
		return err
	}
	if err := checkAsset("asset", r.Asset); err != nil {
		return err
	}
	if err := checkAddress("destination", r.Destination); err != nil {
		return err
	}
	if err := r.validateAmount(); err != nil {
		return err
	}
	// Whether the asset needs a fee rate (Bitcoin) or refuses one (an EVM
	// chain) is the policy's to say: Policy.CheckFeeRate.
	if r.FeeRate > MaxFeeRate {
		return malformed("fee_rate", "must be 1..%d sat/vB", MaxFeeRate)
	}
	switch r.Kind {
	case KindLiquidation:
		if r.Evidence == nil {
			return malformed("evidence", "liquidation needs margin-call evidence")
		}
		if err := r.Evidence.validate(); err != nil {
			return err
		}
	case KindUnfreeze:
		if strings.TrimSpace(r.Reason) == "" {
			return malformed("reason", "emergency_unfreeze needs a reason")
		}
	}
	if r.Replaces != "" && !isRequestID(r.Replaces) {
		return malformed("replaces", "must be a request ID (64 lower-case hex characters)")
	}
	if r.Kind != KindLiquidation && r.Evidence != nil {
		return malformed("evidence", "only liquidation carries evidence")
	}
	if r.EVM != nil {
		if len(r.Inputs) != 0 {
			return malformed("evm", "a request is paid by coins (inputs) or by an EVM transaction, not both")
		}
		return r.EVM.validate()
	}
	return validateInputs(r.Inputs)
}

// ParseChildPath parses a non-hardened BIP32 path such as "m/0/42". Threshold
// keys cannot derive hardened children, so "'" or "h" is refused.
func ParseChildPath(s string) ([]uint32, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || parts[0] != "m" || len(parts)-1 > MaxChildDepth {
		return nil, malformed("child_path", "want m/<index>[/<index>...], at most %d levels", MaxChildDepth)
	}
	out := make([]uint32, 0, len(parts)-1)
	for _, p := range parts[1:] {
		if p == "" || len(p) > 10 || (len(p) > 1 && p[0] == '0') {
			return nil, malformed("child_path", "bad index %q", clip(p))
		}
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || n > nonHardenedMax {
			return nil, malformed("child_path", "index %q is not a non-hardened index", clip(p))
		}
		out = append(out, uint32(n))
	}
	return out, nil
}

func malformed(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, field, fmt.Sprintf(format, args...))
}

func checkIdent(field, s string) error {
	if s == "" || len(s) > maxIdentLen {
		return malformed(field, "must be 1..%d characters", maxIdentLen)
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == ':' || c == '@'
		if !ok {
			return malformed(field, "only letters, digits and -_.:@ are allowed")
		}
	}
	return nil
}

func checkAsset(field, s string) error {
	if s == "" || len(s) > 16 {
		return malformed(field, "must be 1..16 characters")
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return malformed(field, "only upper-case letters and digits are allowed")
		}
	}
	return nil
}

func checkAddress(field, s string) error {
	if s == "" || len(s) > maxAddressLen {
		return malformed(field, "must be 1..%d characters", maxAddressLen)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return malformed(field, "only letters and digits are allowed")
		}
	}
	return nil
}

func checkTime(field string, t time.Time) error {
	if t.IsZero() || t.Year() < minYear || t.Year() > maxYear {
		return malformed(field, "must be a time between %d and %d", minYear, maxYear)
	}
	return nil
}

func printable(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == 0xfffd {
			return false
		}
	}
	return true
}

// clip shortens attacker-supplied text (a string or a string type such
// as Party) before it goes into an error.
func clip[S ~string](s S) string {
	if len(s) > 32 {
		return string(s[:32]) + "…"
	}
	return string(s)
}
