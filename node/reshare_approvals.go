package node

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Operator approvals of a reshare: who may approve, how a signature is
// checked, and the single use of each approval's nonce.

// ReshareApproval is one operator's ed25519 signature over a spec. Its
// nonce is single-use on every node.
type ReshareApproval struct {
	SpecDigest string    `json:"spec_digest"`
	Party      string    `json:"party"`
	Operator   string    `json:"operator"`
	Nonce      string    `json:"nonce"`
	Expires    time.Time `json:"expires"`
	Signature  []byte    `json:"signature,omitempty"`
}

func (a ReshareApproval) signingBytes() []byte {
	a.Signature = nil
	a.Expires = a.Expires.UTC().Truncate(time.Second)
	b, _ := json.Marshal(a)
	return append([]byte("triad/reshare-approval/v1\n"), b...)
}

// SignReshareApproval signs spec as operator of party (CLI and tests).
func SignReshareApproval(spec ReshareSpec, party, operator, nonce string, key ed25519.PrivateKey) ReshareApproval {
	return signApproval(spec.Digest(), spec.Expires, party, operator, nonce, key)
}

// signApproval signs a spec digest (reshare or keygen: each spec's digest
// is domain-separated, so an approval of one is no approval of the other).
func signApproval(digest [32]byte, expires time.Time, party, operator, nonce string, key ed25519.PrivateKey) ReshareApproval {
	a := ReshareApproval{SpecDigest: hex.EncodeToString(digest[:]), Party: party, Operator: operator, Nonce: nonce,
		Expires: expires.UTC().Truncate(time.Second)}
	a.Signature = ed25519.Sign(key, a.signingBytes())
	return a
}

// verifyApprovals checks that operators of at least two distinct parties
// signed spec, within their expiry, with nonces this node has not seen.
func (n *Node) verifyApprovals(o ReshareOrder) error {
	rs := n.recovery()
	if rs == nil {
		return ErrRecoveryOff
	}
	if err := o.Spec.validate(n.opt.Parties); err != nil {
		return fmt.Errorf("%w: spec: %v", ErrReshareApproval, err)
	}
	return rs.verifyApprovalSet(ErrReshareApproval, o.Spec.Digest(), o.Spec.Expires, o.Approvals, n.opt.Now())
}

// verifyApprovalSet checks that operators of at least two distinct
// parties signed the spec digest, within the spec's and their own expiry.
// Its errors wrap insufficient (ErrReshareApproval, ErrKeygenApproval).
func (rs *recoveryState) verifyApprovalSet(insufficient error, digest [32]byte, expires time.Time, approvals []ReshareApproval, now time.Time) error {
	if !now.Before(expires) {
		return fmt.Errorf("%w: spec expired at %s", insufficient, expires.Format(time.RFC3339))
	}
	want := hex.EncodeToString(digest[:])
	parties := map[string]bool{}
	var errs []string
	for _, a := range approvals {
		if err := rs.verifyApproval(a, want, now); err != nil {
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

func (rs *recoveryState) verifyApproval(a ReshareApproval, digest string, now time.Time) error {
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
	if rs.opt.Operators != nil {
		key, _ = rs.opt.Operators(a.Party, a.Operator)
	}
	if key == nil {
		return fmt.Errorf("%s/%s: no such operator", a.Party, a.Operator)
	}
	if !ed25519.Verify(key, a.signingBytes(), a.Signature) {
		return fmt.Errorf("%s/%s: bad signature", a.Party, a.Operator)
	}
	return nil
}
