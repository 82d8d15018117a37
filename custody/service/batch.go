package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/triad-custody/triad/custody"
)

// A liquidation batch is one transaction paying several approved
// liquidations (issue 9 item 3): the coordinator queues the liquidations
// it approved and cuts a batch every window or at a size limit
// (custody.Policy.BatchWindow, BatchMax; batch_flow.go). Its document
// names the members in order, each with its plan; every signer re-derives
// the transaction from the members it approved itself.

// BatchVersion is the only batch document version.
const BatchVersion = "liquidation/v1"

const batchDomain = "triad/liquidation-batch/v1\n"

// maxBatchDoc bounds a batch document (well inside a frame).
const maxBatchDoc = 256 << 10

// BatchMember is one liquidation of a batch and the coins that pay it.
type BatchMember struct {
	RequestID string          `json:"request_id"`
	Inputs    []custody.Input `json:"inputs,omitempty"`
}

// Batch is a liquidation batch's document. Members are in strictly
// ascending request ID order: the same set of members is one document.
type Batch struct {
	Batch   string        `json:"batch"`
	Members []BatchMember `json:"members"`
}

// Canonical is the batch's one encoding: what its signers receive as the
// payload and its ID hashes.
func (b Batch) Canonical() []byte {
	out, err := json.Marshal(b)
	if err != nil { // cannot happen: strings and integers only
		panic(fmt.Sprintf("service: encoding batch: %v", err))
	}
	return out
}

// ID is the hex SHA-256 of the domain tag and the canonical document.
func (b Batch) ID() string {
	h := sha256.New()
	h.Write([]byte(batchDomain))
	h.Write(b.Canonical())
	return hex.EncodeToString(h.Sum(nil))
}

// IDs lists the member request IDs in order.
func (b Batch) IDs() []string {
	out := make([]string, len(b.Members))
	for i, m := range b.Members {
		out[i] = m.RequestID
	}
	return out
}

// isBatchPayload reports whether a signing payload is a batch document
// (a request's canonical encoding begins with "kind").
func isBatchPayload(p []byte) bool { return bytes.HasPrefix(p, []byte(`{"batch":`)) }

// DecodeBatch strictly decodes a batch document: bounded, no unknown
// fields, no trailing data, in canonical form, 1..MaxBatchMembers members
// in ascending ID order, each a request ID with a well-formed plan, and no
// coin twice in the whole batch. It never panics.
func DecodeBatch(raw []byte) (Batch, error) {
	bad := func(format string, a ...any) (Batch, error) {
		return Batch{}, fmt.Errorf("decoding batch: %w: %s", custody.ErrMalformed, fmt.Sprintf(format, a...))
	}
	if len(raw) > maxBatchDoc {
		return bad("%d bytes exceeds %d", len(raw), maxBatchDoc)
	}
	var b Batch
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return bad("%s", clip(err.Error()))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bad("trailing data")
	}
	if b.Batch != BatchVersion {
		return bad("version %q", clip(b.Batch))
	}
	if len(b.Members) == 0 || len(b.Members) > custody.MaxBatchMembers {
		return bad("%d members, want 1..%d", len(b.Members), custody.MaxBatchMembers)
	}
	coins := map[string]bool{}
	for i, m := range b.Members {
		if !isHex32(m.RequestID) {
			return bad("members[%d].request_id", i)
		}
		if i > 0 && m.RequestID <= b.Members[i-1].RequestID {
			return bad("members out of order or repeated at %d", i)
		}
		if len(m.Inputs) > custody.MaxRequestInputs {
			return bad("members[%d]: %d inputs", i, len(m.Inputs))
		}
		for j, in := range m.Inputs {
			k := fmt.Sprintf("%s:%d", in.TxID, in.Vout)
			if !isHex32(in.TxID) || in.Value == 0 || in.Value > custody.MaxAmount || coins[k] {
				return bad("members[%d].inputs[%d]", i, j)
			}
			coins[k] = true
		}
	}
	if !bytes.Equal(raw, b.Canonical()) {
		return bad("not in canonical form")
	}
	return b, nil
}

func isHex32(s string) bool {
	d, err := hex.DecodeString(s)
	return err == nil && len(d) == 32 && hex.EncodeToString(d) == s
}

// BatchInput is one signature a batch needs: the digest and the key (the
// member's account key and child path) it is made with.
type BatchInput struct {
	Digest    [32]byte
	KeyID     string
	ChildPath string
}

// Batcher builds and settles liquidation batches; *settle.Settler
// implements it. members are the batch's requests, each with its plan,
// in the document's order; both methods must be deterministic in them.
type Batcher interface {
	// BatchDigests builds the batch's transaction as this node would sign
	// it and returns, per input in order, what to sign and with which key.
	BatchDigests(ctx context.Context, id string, members []custody.Request) ([]BatchInput, error)
	// SettleBatch finalizes the transaction with sigs (in BatchDigests'
	// order), records for every member the txid and its own output index,
	// and, when broadcast and this node broadcasts, sends it.
	SettleBatch(ctx context.Context, id string, members []custody.Request, sigs []Signature, broadcast bool) error
}

const interimBatchDomain = "triad/interim-batch-digest/v1\n"

// InterimBatcher stands in for settlement like DefaultDigester: one
// digest per member (SHA-256 of a domain tag, the batch ID, the member's
// index and its canonical request with its plan), signed with the
// member's key, and nothing to settle.
type InterimBatcher struct{}

// BatchDigests implements Batcher.
func (InterimBatcher) BatchDigests(_ context.Context, id string, members []custody.Request) ([]BatchInput, error) {
	out := make([]BatchInput, len(members))
	for i, m := range members {
		d := sha256.Sum256(fmt.Appendf([]byte(interimBatchDomain), "%s\n%d\n%s", id, i, m.Canonical()))
		out[i] = BatchInput{Digest: d, KeyID: m.KeyID, ChildPath: m.ChildPath}
	}
	return out, nil
}

// SettleBatch implements Batcher: the signatures are the product.
func (InterimBatcher) SettleBatch(context.Context, string, []custody.Request, []Signature, bool) error {
	return nil
}
