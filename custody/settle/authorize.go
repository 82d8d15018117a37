package settle

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/node"
)

// InputRequestID names the signing session of input i of request id in
// attempt nonce: "<id>/<i>/<nonce>", the form package service uses. Every
// input is its own threshold signature with its own session.
func InputRequestID(id string, i int, nonce string) string {
	return id + "/" + strconv.Itoa(i) + "/" + nonce
}

// ParseInputRequestID splits an InputRequestID.
func ParseInputRequestID(rid string) (id string, input int, nonce string, err error) {
	parts := strings.Split(rid, "/")
	if len(parts) != 3 || len(parts[0]) != 64 || parts[2] == "" {
		return "", 0, "", fmt.Errorf("%w: session request ID %q is not <request>/<input>/<attempt>", ErrProposal, clipID(rid))
	}
	i, err := strconv.Atoi(parts[1])
	if err != nil || i < 0 || strconv.Itoa(i) != parts[1] {
		return "", 0, "", fmt.Errorf("%w: input index %q", ErrProposal, clipID(parts[1]))
	}
	return parts[0], i, parts[2], nil
}

// CheckProposal is the settlement half of a signer's decision to join a
// threshold signature: the payload is a canonical request; the session
// names that request and input i; the key and child path are the
// request's; and the digest is the BIP143 sighash of input i of the
// transaction THIS node builds from the request and its own policy. A
// coordinator that built the transaction differently (another output,
// a higher fee, change elsewhere, other coins) proposes a digest this
// node does not compute, and is refused. Policy (approvals, limits,
// clocks) is the caller's other half.
func (s *Settler) CheckProposal(ctx context.Context, keyID string, p *node.Proposal) (custody.Request, int, error) {
	req, err := custody.DecodeCanonicalRequest(p.Payload)
	if err != nil {
		return custody.Request{}, 0, fmt.Errorf("%w: payload: %w", ErrProposal, err)
	}
	id, i, _, err := ParseInputRequestID(p.RequestID)
	if err != nil {
		return req, 0, err
	}
	switch {
	case id != req.ID():
		return req, 0, fmt.Errorf("%w: session names request %.12s, payload is %.12s", ErrProposal, id, req.ID())
	case keyID != req.KeyID || p.ChildPath != req.ChildPath:
		return req, 0, fmt.Errorf("%w: key %s path %q, the request names %s %q", ErrProposal, keyID, p.ChildPath, req.KeyID, req.ChildPath)
	}
	plan, err := s.Plan(ctx, req)
	if err != nil {
		return req, 0, fmt.Errorf("%w: %w", ErrProposal, err)
	}
	if err := s.CheckInputs(ctx, req); err != nil {
		return req, 0, fmt.Errorf("%w: %w", ErrProposal, err)
	}
	switch {
	case i >= len(plan.Digests):
		return req, 0, fmt.Errorf("%w: input %d of a %d-input transaction", ErrProposal, i, len(plan.Digests))
	case !bytes.Equal(p.Digest, plan.Digests[i][:]):
		return req, 0, fmt.Errorf("%w: digest of input %d is not the sighash this node computes for %.12s (txid %v)",
			ErrProposal, i, req.ID(), plan.TxID())
	}
	return req, i, nil
}

// CheckTx compares a transaction a peer or an operator presents for req
// with the one this node builds (btc.Check): any difference is refused
// with btc's specific error (btc.ErrOutputMismatch, btc.ErrWrongChange,
// btc.ErrFeeTooHigh, btc.ErrUnexpectedInput, btc.ErrTxMismatch, ...).
func (s *Settler) CheckTx(ctx context.Context, req custody.Request, tx *wire.MsgTx) error {
	p, err := s.Plan(ctx, req)
	if err != nil {
		return err
	}
	if err := btc.Check(tx, p.Spend); err != nil {
		return fmt.Errorf("checking the transaction of %.12s: %w", p.RequestID, err)
	}
	return nil
}

// Authorizer is a node.Authorizer that joins a custody signing session
// only when CheckProposal passes and then Next (this node's policy) agrees.
// Proposals without payload (the raw-digest path) go to Next alone. Use
// it where package service is not the authorizer; the service does the
// same check through its Digester.
type Authorizer struct {
	Settler *Settler
	Next    node.Authorizer // nil: settlement checks only
}

var _ node.Authorizer = Authorizer{}

// AuthorizeSign implements node.Authorizer.
func (a Authorizer) AuthorizeSign(ctx context.Context, keyID string, p *node.Proposal) error {
	if len(p.Payload) > 0 {
		if _, _, err := a.Settler.CheckProposal(ctx, keyID, p); err != nil {
			return err
		}
	} else if a.Next == nil {
		return fmt.Errorf("%w: a raw digest without a request", ErrProposal)
	}
	if a.Next != nil {
		return a.Next.AuthorizeSign(ctx, keyID, p)
	}
	return nil
}

// Signer is the signing network; *node.Node implements it.
type Signer interface {
	Sign(ctx context.Context, req node.SignRequest) (*node.SignResult, error)
}

// SignAll coordinates req's signatures through n: one threshold session
// per input, in order, each named InputRequestID(id, i, nonce) with the
// canonical request as payload, so every partner checks that input's
// digest itself. Each signature is verified against this node's own
// digest and key before the next input starts. partner may be "".
func (s *Settler) SignAll(ctx context.Context, n Signer, req custody.Request, nonce, partner string) ([]btc.Signature, error) {
	p, err := s.Plan(ctx, req)
	if err != nil {
		return nil, err
	}
	sigs := make([]btc.Signature, len(p.Digests))
	for i, d := range p.Digests {
		res, err := n.Sign(ctx, node.SignRequest{KeyID: req.KeyID, RequestID: InputRequestID(p.RequestID, i, nonce),
			Digest: d, ChildPath: req.ChildPath, Payload: req.Canonical(), Partner: partner})
		if err != nil {
			return nil, fmt.Errorf("signing input %d of %d of %.12s: %w", i+1, len(p.Digests), p.RequestID, err)
		}
		sig := btc.Signature{R: res.Signature.R, S: res.Signature.S}
		if res.Signature.Digest != d || !verify(p.Key, d, sig) {
			return nil, fmt.Errorf("signing input %d of %.12s: %w: signature does not verify", i+1, p.RequestID, ErrSignatures)
		}
		sigs[i] = sig
	}
	return sigs, nil
}

func verify(pub *btcec.PublicKey, digest [32]byte, sig btc.Signature) bool {
	if sig.R == nil || sig.S == nil || sig.R.Sign() <= 0 || sig.S.Sign() <= 0 || sig.R.BitLen() > 256 || sig.S.BitLen() > 256 {
		return false
	}
	var r, s btcec.ModNScalar
	if r.SetByteSlice(sig.R.Bytes()) || s.SetByteSlice(sig.S.Bytes()) {
		return false
	}
	return btcecdsa.NewSignature(&r, &s).Verify(digest[:], pub)
}

func clipID(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
