package custody

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

const approvalDomain = "triad/approval/v1\n"

// Stance is what an operator says about a request.
type Stance string

// Stances.
const (
	Approve Stance = "approve"
	Veto    Stance = "veto"
)

// Approval is an operator's signed approval or veto. It is bound to one
// request ID, its action kind, the stance, the operator's party, a nonce
// (single use) and an expiry; changing any of them breaks the signature.
type Approval struct {
	RequestID string    `json:"request_id"`
	Kind      Kind      `json:"kind"`
	Stance    Stance    `json:"stance"`
	Party     Party     `json:"party"`
	Operator  string    `json:"operator"` // key name in the policy's operators list
	Nonce     string    `json:"nonce"`
	IssuedAt  time.Time `json:"issued_at"`
	Expires   time.Time `json:"expires"`
	Signature []byte    `json:"signature,omitempty"`
}

func (a Approval) normalize() Approval {
	a.IssuedAt, a.Expires = normTime(a.IssuedAt), normTime(a.Expires)
	return a
}

// SigningBytes is what the operator signs.
func (a Approval) SigningBytes() []byte {
	a = a.normalize()
	a.Signature = nil
	b, err := json.Marshal(a)
	if err != nil {
		panic(fmt.Sprintf("custody: encoding approval: %v", err))
	}
	return append([]byte(approvalDomain), b...)
}

// Digest is the hex SHA-256 of the signed approval (signing bytes and
// signature); it identifies the approval in the audit chain.
func (a Approval) Digest() string {
	h := sha256.New()
	h.Write(a.SigningBytes())
	h.Write(a.Signature)
	return hex.EncodeToString(h.Sum(nil))
}

// SignApproval signs a with an operator key (used by the CLI and tests).
func SignApproval(a Approval, key ed25519.PrivateKey) Approval {
	a = a.normalize()
	a.Signature = ed25519.Sign(key, a.SigningBytes())
	return a
}

// DecodeApproval strictly decodes a signed approval from JSON.
func DecodeApproval(b []byte) (Approval, error) {
	var a Approval
	if err := strictUnmarshal(b, 4<<10, &a); err != nil {
		return Approval{}, fmt.Errorf("decoding approval: %w", err)
	}
	return a.normalize(), nil
}

// VerifyApproval checks a signed approval against the policy and the request
// it claims to be about, at this node's time now. It is pure: it does not
// consume the nonce; the caller records the approval and its nonce in one
// step (store.AddApproval, or NonceStore.UseNonce) and so refuses replays.
func VerifyApproval(p Policy, a Approval, req Request, now time.Time) error {
	fail := func(err error) error {
		return fmt.Errorf("verifying %s by %s/%s for request %.12s: %w", a.Stance, clip(a.Party), clip(a.Operator), a.RequestID, err)
	}
	if a.Stance != Approve && a.Stance != Veto {
		return fail(malformed("stance", "want approve or veto"))
	}
	if !a.Party.Valid() {
		return fail(malformed("party", "unknown party"))
	}
	if err := checkIdent("nonce", a.Nonce); err != nil {
		return fail(err)
	}
	if len(a.Nonce) < 16 {
		return fail(malformed("nonce", "must be at least 16 characters"))
	}
	if a.RequestID != req.ID() {
		return fail(fmt.Errorf("%w: signed for another request", ErrMismatch))
	}
	if a.Kind != req.Kind {
		return fail(fmt.Errorf("%w: signed for action %q, request is %q", ErrMismatch, clip(string(a.Kind)), req.Kind))
	}
	key, ok := p.operatorKey(a.Party, a.Operator)
	if !ok {
		return fail(fmt.Errorf("%w: operator not configured for this party", ErrBadSignature))
	}
	if len(a.Signature) != ed25519.SignatureSize || !ed25519.Verify(key, a.SigningBytes(), a.Signature) {
		return fail(ErrBadSignature)
	}
	if !a.Expires.After(a.IssuedAt) || a.Expires.Sub(a.IssuedAt) > p.ApprovalMaxTTL {
		return fail(fmt.Errorf("%w: validity window must be within approval_max_ttl (%s)", ErrExpired, p.ApprovalMaxTTL))
	}
	if now.Add(p.ClockSkew).Before(a.IssuedAt) {
		return fail(fmt.Errorf("%w: issued in the future", ErrExpired))
	}
	if !now.Before(a.Expires) {
		return fail(ErrExpired)
	}
	return nil
}

// Endorse turns a verified approval into the endorsement a node records.
func (a Approval) Endorse(now time.Time) Endorsement {
	return Endorsement{Party: a.Party, Stance: a.Stance, Operator: a.Operator, Nonce: a.Nonce, At: normTime(now), Digest: a.Digest()}
}

// NonceStore remembers nonces of accepted approvals until they expire.
// UseNonce returns an error wrapping ErrReplay if (party, nonce) was used.
type NonceStore interface {
	UseNonce(party Party, nonce string, expires time.Time) error
}

// MemNonceStore is an in-memory NonceStore.
type MemNonceStore struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

var _ NonceStore = (*MemNonceStore)(nil)

// NewMemNonceStore returns an empty store.
func NewMemNonceStore() *MemNonceStore { return &MemNonceStore{seen: map[string]time.Time{}} }

// UseNonce records the nonce or refuses a replay.
func (m *MemNonceStore) UseNonce(party Party, nonce string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := string(party) + "\x00" + nonce
	if _, ok := m.seen[k]; ok {
		return fmt.Errorf("using nonce of %s: %w", party, ErrReplay)
	}
	m.seen[k] = expires
	return nil
}

// Prune forgets nonces that expired before now; VerifyApproval refuses
// their approvals anyway.
func (m *MemNonceStore) Prune(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, exp := range m.seen {
		if exp.Before(now) {
			delete(m.seen, k)
		}
	}
}
