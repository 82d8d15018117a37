package holdings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/node"
)

// PayloadType marks a signing proposal's payload as a holdings snapshot.
const PayloadType = "triad/holdings-attestation/v1"

// ErrNoSnapshot: no snapshot has been signed here yet.
var ErrNoSnapshot = errors.New("holdings: no signed snapshot yet")

// payload is what an attestation proposal carries: the snapshot each
// signer recomputes from its own chain view.
type payload struct {
	Type     string   `json:"type"`
	Snapshot Snapshot `json:"snapshot"`
}

// RequestID names the signing session of a snapshot.
func RequestID(s Snapshot) string { return fmt.Sprintf("holdings/%d", s.Time.Unix()) }

// payloadPrefix starts every snapshot payload Attest sends (json.Marshal
// writes fields in order): any other payload is passed on undecoded.
var payloadPrefix = []byte(`{"type":"` + PayloadType + `"`)

func decodePayload(b []byte) (payload, bool) {
	var p payload
	if !bytes.HasPrefix(b, payloadPrefix) {
		return payload{}, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if len(b) == 0 || dec.Decode(&p) != nil || dec.More() || p.Type != PayloadType {
		return payload{}, false
	}
	return p, true
}

// Authorizer is this node's decision to join an attestation: it wraps the
// node's other authorizer (Next, normally the custody service). A proposal
// carrying a snapshot is joined only on a key whose role is attestation,
// with no child path, with the custodian among the signers, over the
// snapshot's own digest, taken within clock_skew (+ SignWindow) of this
// node's clock, and only if this node's own chain view (View) gives the
// very same chain heads, root and leaf count. Any other proposal on an
// attestation key is refused; the rest goes to Next.
type Authorizer struct {
	Policy custody.Policy
	View   View
	Now    func() time.Time
	Next   node.Authorizer
	// SignWindow is how long after its time a snapshot may still be
	// joined, beyond the policy's clock_skew (0: one minute).
	SignWindow time.Duration
}

var _ node.Authorizer = Authorizer{}

// AuthorizeSign implements node.Authorizer.
func (a Authorizer) AuthorizeSign(ctx context.Context, keyID string, p *node.Proposal) error {
	role, _ := a.Policy.KeyRoleOf(keyID)
	ap, ok := decodePayload(p.Payload)
	switch {
	case !ok && role == custody.RoleAttestation:
		return fmt.Errorf("%w: %s is an attestation key: it signs holdings snapshots only", ErrRefused, keyID)
	case !ok && a.Next == nil:
		return fmt.Errorf("%w: not a holdings snapshot", ErrRefused)
	case !ok:
		return a.Next.AuthorizeSign(ctx, keyID, p)
	}
	return a.check(ctx, keyID, role, p, ap.Snapshot)
}

func (a Authorizer) check(ctx context.Context, keyID string, role custody.KeyRole, p *node.Proposal, snap Snapshot) error {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
	}
	d, err := snap.Digest()
	if err != nil {
		return refuse("snapshot: %v", err)
	}
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	window := a.SignWindow
	if window <= 0 {
		window = time.Minute
	}
	switch age := now.Sub(snap.Time); {
	case role != custody.RoleAttestation:
		return refuse("key %s is not an attestation key in this node's policy", keyID)
	case p.ChildPath != "":
		return refuse("an attestation is signed by the group key, not child %s", p.ChildPath)
	case !bytes.Equal(p.Digest, d[:]):
		return refuse("digest is not the snapshot's")
	case p.RequestID != RequestID(snap):
		return refuse("session %q does not name the snapshot", p.RequestID)
	case !slices.Contains(p.Participants, string(custody.Custodian)):
		return refuse("the custodian is not among the signers %v", p.Participants)
	case age > a.Policy.ClockSkew+window || -age > a.Policy.ClockSkew:
		return refuse("snapshot time %s is %s from this node's clock", snap.Time.Format(time.RFC3339), age.Round(time.Second))
	}
	leaves, heads, err := a.View.Read(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if !slices.Equal(heads, snap.Chains) {
		return fmt.Errorf("%w: %w: this node's chain is at %+v, the snapshot at %+v", ErrRefused, ErrDisagree, heads, snap.Chains)
	}
	tree, err := Build(leaves)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if HexHash(tree.Root()) != snap.Root || uint64(tree.Size()) != snap.Leaves {
		return fmt.Errorf("%w: %w: root %s of %d leaves here, %s of %d in the snapshot", ErrRefused, ErrDisagree,
			HexHash(tree.Root()), tree.Size(), snap.Root, snap.Leaves)
	}
	return nil
}

// Signer runs a threshold signing session with this node as coordinator
// (node.Runtime implements it).
type Signer interface {
	Sign(ctx context.Context, req node.SignRequest) (*node.SignResult, error)
}

// Attester takes snapshots on the coordinating node (the custodian) and
// has them signed by the attestation key; it keeps the latest signed one
// and serves proofs from it.
type Attester struct {
	KeyID  string
	View   View
	Signer Signer
	Keys   settle.KeyLoader
	Now    func() time.Time
	// File, when set, keeps the latest signed snapshot across restarts
	// (Restore reads it back).
	File string

	mu     sync.Mutex
	tree   *Tree
	latest *Attestation
}

// Attest reads this node's chain view, builds the tree and has the
// snapshot signed 2-of-3 (each partner recomputes it: Authorizer). It
// checks the signature against the key's group public key before it
// keeps the snapshot as the latest.
func (a *Attester) Attest(ctx context.Context) (Attestation, error) {
	pub, err := a.GroupKey(ctx)
	if err != nil {
		return Attestation{}, err
	}
	leaves, heads, err := a.View.Read(ctx)
	if err != nil {
		return Attestation{}, err
	}
	tree, err := Build(leaves)
	if err != nil {
		return Attestation{}, err
	}
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	snap := Snapshot{Time: now.UTC().Truncate(time.Second), Root: tree.Root(), Leaves: uint64(tree.Size()), Chains: heads}
	d, err := snap.Digest()
	if err != nil {
		return Attestation{}, err
	}
	body, err := json.Marshal(payload{Type: PayloadType, Snapshot: snap})
	if err != nil {
		return Attestation{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	res, err := a.Signer.Sign(ctx, node.SignRequest{KeyID: a.KeyID, RequestID: RequestID(snap), Digest: d, Payload: body})
	if err != nil {
		return Attestation{}, fmt.Errorf("signing the holdings snapshot: %w", err)
	}
	if res.Signature == nil || res.Signature.R.BitLen() > 256 || res.Signature.S.BitLen() > 256 {
		return Attestation{}, fmt.Errorf("signing the holdings snapshot: %w: no signature", ErrProof)
	}
	att := Attestation{KeyID: a.KeyID, Snapshot: snap}
	res.Signature.R.FillBytes(att.R[:])
	res.Signature.S.FillBytes(att.S[:])
	if err := att.Verify(pub); err != nil {
		return Attestation{}, fmt.Errorf("the threshold signature of the snapshot: %w", err)
	}
	a.mu.Lock()
	a.tree, a.latest = tree, &att
	a.mu.Unlock()
	if err := a.keep(tree, att); err != nil {
		return att, err
	}
	return att, nil
}

// GroupKey is the attestation key's group public key, from this node's
// share.
func (a *Attester) GroupKey(ctx context.Context) (*btcec.PublicKey, error) {
	share, err := a.Keys.Load(ctx, a.KeyID)
	if err != nil {
		return nil, fmt.Errorf("attestation key %s: %w", a.KeyID, err)
	}
	return share.PublicKey()
}

// Proof is account's proof from the latest signed snapshot.
func (a *Attester) Proof(account string) (AccountProof, error) {
	a.mu.Lock()
	tree, att := a.tree, a.latest
	a.mu.Unlock()
	if att == nil {
		return AccountProof{}, ErrNoSnapshot
	}
	return ProofFor(tree, *att, account)
}
