package reshare

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Operator approvals of a reshare (and of a custody keygen, whose spec
// node/keygen_approvals.go signs with the same records and checks): who
// may approve, and how a signature is checked. Each approval's nonce is
// single-use (nonces.go).

// Approval is one operator's ed25519 signature over a spec. Its nonce is
// single-use on every node.
type Approval struct {
	SpecDigest string    `json:"spec_digest"`
	Party      string    `json:"party"`
	Operator   string    `json:"operator"`
	Nonce      string    `json:"nonce"`
	Expires    time.Time `json:"expires"`
	Signature  []byte    `json:"signature,omitempty"`
}

func (a Approval) signingBytes() []byte {
	a.Signature = nil
	a.Expires = a.Expires.UTC().Truncate(time.Second)
	b, _ := json.Marshal(a)
	return append([]byte("triad/reshare-approval/v1\n"), b...)
}

// Operators gives the ed25519 key of party's operator name; false, or a
// nil function, for none.
type Operators func(party, name string) (ed25519.PublicKey, bool)

// SignApproval signs spec as operator of party (CLI and tests).
func SignApproval(spec Spec, party, operator, nonce string, key ed25519.PrivateKey) Approval {
	return SignDigest(spec.Digest(), spec.Expires, party, operator, nonce, key)
}

// SignDigest signs a spec digest (reshare or keygen: each spec's digest
// is domain-separated, so an approval of one is no approval of the other).
func SignDigest(digest [32]byte, expires time.Time, party, operator, nonce string, key ed25519.PrivateKey) Approval {
	a := Approval{SpecDigest: hex.EncodeToString(digest[:]), Party: party, Operator: operator, Nonce: nonce,
		Expires: expires.UTC().Truncate(time.Second)}
	a.Signature = ed25519.Sign(key, a.signingBytes())
	return a
}

// VerifyApprovals checks that operators of at least two distinct parties
// signed the order's spec, within their expiry. Its errors wrap
// ErrApproval, or are ErrRecoveryOff.
func (e *Engine) VerifyApprovals(o Order) error {
	st := e.state()
	if st == nil {
		return ErrRecoveryOff
	}
	if err := o.Spec.validate(e.n.Parties()); err != nil {
		return fmt.Errorf("%w: spec: %v", ErrApproval, err)
	}
	return VerifyApprovalSet(st.opt.Operators, ErrApproval, o.Spec.Digest(), o.Spec.Expires, o.Approvals, e.n.Now())
}

// VerifyApprovalSet checks that operators of at least two distinct
// parties signed the spec digest, within the spec's and their own expiry.
// Its errors wrap insufficient (ErrApproval, node.ErrKeygenApproval).
func VerifyApprovalSet(ops Operators, insufficient error, digest [32]byte, expires time.Time, approvals []Approval, now time.Time) error {
	if !now.Before(expires) {
		return fmt.Errorf("%w: spec expired at %s", insufficient, expires.Format(time.RFC3339))
	}
	want := hex.EncodeToString(digest[:])
	parties := map[string]bool{}
	var errs []string
	for _, a := range approvals {
		if err := verifyApproval(ops, a, want, now); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		parties[a.Party] = true
	}
	if len(parties) < 2 {
		return fmt.Errorf("%w: %d party(ies) approved, need 2 (%s)", insufficient, len(parties), strings.Join(errs, "; "))
	}
	return nil
}

func verifyApproval(ops Operators, a Approval, digest string, now time.Time) error {
	if a.SpecDigest != digest {
		return fmt.Errorf("%s/%s signed another spec", a.Party, a.Operator)
	}
	if len(a.Nonce) < 16 || len(a.Nonce) > 128 {
		return fmt.Errorf("%s/%s: nonce must be 16–128 characters", a.Party, a.Operator)
	}
	if !now.Before(a.Expires) {
		return fmt.Errorf("%s/%s: approval expired", a.Party, a.Operator)
	}
	var key ed25519.PublicKey
	if ops != nil {
		key, _ = ops(a.Party, a.Operator)
	}
	if key == nil {
		return fmt.Errorf("%s/%s: no such operator", a.Party, a.Operator)
	}
	if !ed25519.Verify(key, a.signingBytes(), a.Signature) {
		return fmt.Errorf("%s/%s: bad signature", a.Party, a.Operator)
	}
	return nil
}
