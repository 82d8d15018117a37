package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors.
var (
	ErrTampered = errors.New("audit: chain tampered")
	ErrBadEntry = errors.New("audit: bad entry")
)

// Record kinds the custody store writes.
const (
	KindRequest  = "request"  // payload: the request ID (SHA-256 of its canonical form)
	KindApproval = "approval" // payload: digest of the signed approval (or of the automatic one)
	KindVeto     = "veto"     // payload: digest of the signed veto
	KindStatus   = "status"   // payload: digest of (request, status, attempts); this node's own
	KindClock    = "clock"    // payload: digest of a clock report; this node's own
)

// SharedKinds are facts every node should have recorded identically; the
// regulator's reconciliation compares them.
var SharedKinds = []string{KindRequest, KindApproval, KindVeto}

// Genesis is the Prev of the first record.
var Genesis = strings.Repeat("0", 64)

const hashDomain = "triad/audit/v1\n"

// Entry is what a caller appends; the chain adds Seq, Prev and Hash.
type Entry struct {
	Time      time.Time
	Kind      string
	RequestID string
	Party     string
	Payload   string // hex SHA-256 of the payload (see Digest)
}

// Record is one link of the chain.
type Record struct {
	Seq       uint64    `json:"seq"`
	Prev      string    `json:"prev"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	RequestID string    `json:"request_id,omitempty"`
	Party     string    `json:"party,omitempty"`
	Payload   string    `json:"payload"`
	Hash      string    `json:"hash"`
}

// Head identifies a chain's last record.
type Head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// GenesisHead is the head of an empty chain.
func GenesisHead() Head { return Head{Seq: 0, Hash: Genesis} }

// Digest is the hex SHA-256 of b.
func Digest(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// ComputeHash is the hash a record must carry: SHA-256 over the domain tag
// and the canonical JSON of the record without its hash.
func (r Record) ComputeHash() string {
	r.Hash = ""
	r.Time = r.Time.Round(0).UTC()
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("audit: encoding record: %v", err))
	}
	return Digest(append([]byte(hashDomain), b...))
}

// Next builds the record that follows head. It is pure.
func Next(head Head, e Entry) (Record, error) {
	if e.Kind == "" || len(e.Kind) > 64 || len(e.RequestID) > 128 || len(e.Party) > 64 {
		return Record{}, fmt.Errorf("appending %q: %w: kind, request or party out of bounds", e.Kind, ErrBadEntry)
	}
	if b, err := hex.DecodeString(e.Payload); err != nil || len(b) != sha256.Size {
		return Record{}, fmt.Errorf("appending %q: %w: payload must be a hex SHA-256 digest", e.Kind, ErrBadEntry)
	}
	r := Record{Seq: head.Seq + 1, Prev: head.Hash, Time: e.Time.Round(0).UTC(), Kind: e.Kind,
		RequestID: e.RequestID, Party: e.Party, Payload: e.Payload}
	r.Hash = r.ComputeHash()
	return r, nil
}

// VerifyError says where a chain breaks.
type VerifyError struct {
	Seq    uint64 // the record where the check failed
	Reason string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("%v at seq %d: %s", ErrTampered, e.Seq, e.Reason)
}

// Unwrap makes errors.Is(err, ErrTampered) work.
func (e *VerifyError) Unwrap() error { return ErrTampered }

// Verify checks a whole chain from genesis.
func Verify(recs []Record) error { return VerifyFrom(GenesisHead(), recs) }

// VerifyFrom checks recs as the continuation of a trusted head: sequence
// numbers without gaps, each Prev the previous Hash, each Hash recomputed.
// The error (a *VerifyError wrapping ErrTampered) names the first bad seq.
func VerifyFrom(from Head, recs []Record) error {
	prev := from
	for _, r := range recs {
		want := prev.Seq + 1
		switch {
		case r.Seq != want:
			return &VerifyError{Seq: want, Reason: fmt.Sprintf("found seq %d where %d belongs: a record was removed, inserted or reordered", r.Seq, want)}
		case r.Prev != prev.Hash:
			return &VerifyError{Seq: r.Seq, Reason: fmt.Sprintf("prev hash does not match record %d: it or an earlier record was altered", prev.Seq)}
		case r.Hash != r.ComputeHash():
			return &VerifyError{Seq: r.Seq, Reason: "content does not match its hash: the record was altered"}
		}
		prev = Head{Seq: r.Seq, Hash: r.Hash}
	}
	return nil
}

// HeadOf returns the head after recs (or from, for none).
func HeadOf(from Head, recs []Record) Head {
	if len(recs) == 0 {
		return from
	}
	last := recs[len(recs)-1]
	return Head{Seq: last.Seq, Hash: last.Hash}
}
