package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/tss"
)

// Digester computes, from the typed request alone, the 32-byte digests a
// request is signed as. Every signer runs it itself and signs only a
// digest it computed; it is the seam where settlement (Bitcoin sighashes,
// issue 4) plugs in. It must be deterministic.
type Digester func(req custody.Request) ([][32]byte, error)

// Finalizer turns a complete signature into its effect (e.g. finalise and
// broadcast a transaction). It runs on the coordinator once.
type Finalizer func(ctx context.Context, req custody.Request, res Result) error

const interimDomain = "triad/interim-digest/v1\n"

// DefaultDigester signs a canary request's own digest (drills: the raw
// path, allowed only for canary keys, which Evaluate checks), and any
// other kind as one interim digest: SHA-256 of a domain tag and the
// canonical request. The interim digest binds every field of the request
// but is not a Bitcoin sighash: it stands in until settlement provides a
// Digester that builds the transaction.
func DefaultDigester(req custody.Request) ([][32]byte, error) {
	if req.Kind == custody.KindCanary {
		b, err := hex.DecodeString(req.Digest)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("canary digest: %w", custody.ErrMalformed)
		}
		var d [32]byte
		copy(d[:], b)
		return [][32]byte{d}, nil
	}
	return [][32]byte{sha256.Sum256(append([]byte(interimDomain), req.Canonical()...))}, nil
}

// Signature is one ECDSA signature of a result: tss.Signature, Triad's
// one signature type (r and s as 32-byte hex in JSON).
type Signature = tss.Signature

// Result is a request's signature(s): one per digest, in the Digester's
// order. Complete once every digest is signed.
type Result struct {
	Coordinator custody.Party   `json:"coordinator"`
	Signers     []custody.Party `json:"signers"`
	Signatures  []Signature     `json:"signatures"`
	Complete    bool            `json:"complete"`
	// Inputs is the plan the signatures pay the request with (plan.go);
	// empty for a request signed without one.
	Inputs []custody.Input `json:"inputs,omitempty"`
	// EVM is the plan of a request paid on an EVM chain (the
	// coordinator's nonce, fee caps and gas; custody.EVMPlan).
	EVM *custody.EVMPlan `json:"evm,omitempty"`
	// Batch is the liquidation batch the signatures pay the request in
	// (batch_flow.go): one signature per input of the batch transaction.
	Batch *BatchRef `json:"batch,omitempty"`
}

// DecodeResult is a result as the service stores it (store.Result): the
// chains read what this node signed from the custody store with it.
func DecodeResult(b []byte) (Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return Result{}, fmt.Errorf("decoding a stored result: %w", err)
	}
	return r, nil
}

// clone is r with slices of its own (the signatures' values are
// shared: nothing changes them in place).
func (r Result) clone() Result {
	r.Signers, r.Signatures, r.Inputs = slices.Clone(r.Signers), slices.Clone(r.Signatures), slices.Clone(r.Inputs)
	if r.EVM != nil {
		evm := *r.EVM
		r.EVM = &evm
	}
	if r.Batch != nil {
		ref := *r.Batch
		ref.Doc = slices.Clone(ref.Doc)
		r.Batch = &ref
	}
	return r
}

// planned is req with the plan r's signatures pay it with.
func (r Result) planned(req custody.Request) custody.Request {
	return req.WithInputs(r.Inputs).WithEVMPlan(r.EVM)
}

// samePlan reports whether r signs req's plan.
func (r Result) samePlan(req custody.Request) bool {
	return slices.Equal(r.Inputs, req.Inputs) && (r.EVM == nil) == (req.EVM == nil) && (r.EVM == nil || *r.EVM == *req.EVM)
}

func (r Result) digest() string {
	b, _ := json.Marshal(r.Signatures)
	return hex.EncodeToString(sha256Sum(b))
}

func sha256Sum(b []byte) []byte { d := sha256.Sum256(b); return d[:] }

func sigFrom(s *tss.Signature) Signature { return *s }

// publicKey returns the (child) public key a request is signed with, from
// this node's own share.
func (s *Service) publicKey(ctx context.Context, req custody.Request) (*btcec.PublicKey, error) {
	_, keys := s.network()
	if keys == nil {
		return nil, fmt.Errorf("verifying a signature: %w: no key store bound", ErrBadResult)
	}
	share, err := keys.Load(ctx, req.KeyID)
	if err != nil {
		return nil, fmt.Errorf("verifying a signature: loading key %s: %w", req.KeyID, err)
	}
	child, _, err := share.ChildKey(req.ChildPath)
	return child, err
}

// verifyResult checks every signature against the digests this node
// computes itself (for the result's plan) and the key it holds a share
// of. Partial results check the signatures they have.
func (s *Service) verifyResult(ctx context.Context, req custody.Request, res Result) error {
	if res.Batch != nil {
		return s.verifyBatchResult(ctx, req, res) // batch_flow.go
	}
	req = res.planned(req)
	digests, err := s.o.Digester(req)
	if err != nil {
		return err
	}
	if len(res.Signatures) > len(digests) || res.Complete != (len(res.Signatures) == len(digests)) {
		return fmt.Errorf("result of %.12s: %w: %d signatures for %d digests", req.ID(), ErrBadResult, len(res.Signatures), len(digests))
	}
	pub, err := s.publicKey(ctx, req)
	if err != nil {
		return err
	}
	for i, sig := range res.Signatures {
		if !verifySig(pub, digests[i], sig) {
			return fmt.Errorf("result of %.12s: %w: signature %d", req.ID(), ErrBadResult, i)
		}
	}
	return nil
}

// verifySig: sig is over digest and verifies under pub.
func verifySig(pub *btcec.PublicKey, digest [32]byte, sig Signature) bool {
	return sig.Digest == digest && sig.Verify(pub)
}

func newNonce() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic("service: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
