package holdings

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
)

// Sentinel errors. Every error of this package wraps one of them.
var (
	// ErrMalformed: a leaf, snapshot, proof or price that cannot be encoded
	// or decoded (bad field, out of range, unknown version).
	ErrMalformed = errors.New("holdings: malformed")
	// ErrProof: an inclusion proof that does not lead to the signed root,
	// or a signature that is not the attestation key's over the snapshot.
	ErrProof = errors.New("holdings: proof does not verify")
	// ErrNoAccount: the snapshot holds no leaf of that account.
	ErrNoAccount = errors.New("holdings: no such account in the snapshot")
	// ErrDisagree: this node's own chain view gives another snapshot.
	ErrDisagree = errors.New("holdings: snapshot differs from this node's chain view")
	// ErrChain: this node's chain view could not be read consistently.
	ErrChain = errors.New("holdings: chain view unavailable")
	// ErrPrice: a price input that is unsigned, signed by a key the policy
	// does not name, stale, or for another asset.
	ErrPrice = errors.New("holdings: price refused")
	// ErrRefused: an attestation proposal this node does not join.
	ErrRefused = errors.New("holdings: attestation refused")
)

// Domain tags (BIP340 tagged hashes, SPEC.md): a leaf, an inner node, the
// empty tree and the signed snapshot message each have their own, so no
// hash of one kind can stand for another.
const (
	LeafTag     = "triad/holdings/leaf/v1"
	NodeTag     = "triad/holdings/node/v1"
	EmptyTag    = "triad/holdings/empty/v1"
	SnapshotTag = "triad/holdings/snapshot/v1"
)

// Bounds of the encoding.
const (
	MaxIDLen     = 64 // account and asset identifiers, bytes
	MaxAmountLen = 32 // amounts are unsigned 256-bit integers
	MaxLeaves    = 1 << 24
)

// Leaf is one account's holding of one asset at one chain head.
type Leaf struct {
	Account string
	Asset   string
	// Amount in the asset's base units (satoshi for BTC), < 2^256.
	Amount *big.Int
	// Height and Block are the chain head (height, block hash as shown by
	// the node, hex) the amount was read at.
	Height uint64
	Block  string
}

// leafJSON is a leaf on the wire: the amount as a decimal string, so no
// JSON reader rounds it.
type leafJSON struct {
	Account string `json:"account"`
	Asset   string `json:"asset"`
	Amount  string `json:"amount"`
	Height  uint64 `json:"height"`
	Block   string `json:"block"`
}

// MarshalJSON writes the amount as a decimal string.
func (l Leaf) MarshalJSON() ([]byte, error) {
	amt := "0"
	if l.Amount != nil {
		amt = l.Amount.String()
	}
	return json.Marshal(leafJSON{l.Account, l.Asset, amt, l.Height, l.Block})
}

// UnmarshalJSON reads a leaf and checks it (Validate).
func (l *Leaf) UnmarshalJSON(b []byte) error {
	var j leafJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("%w: leaf: %v", ErrMalformed, err)
	}
	amt, ok := new(big.Int).SetString(j.Amount, 10)
	if !ok || len(j.Amount) > 80 {
		return fmt.Errorf("%w: leaf amount %q is not a decimal integer", ErrMalformed, clip(j.Amount))
	}
	*l = Leaf{Account: j.Account, Asset: j.Asset, Amount: amt, Height: j.Height, Block: j.Block}
	return l.Validate()
}

// Validate checks every field is encodable.
func (l Leaf) Validate() error {
	switch {
	case !validID(l.Account):
		return fmt.Errorf("%w: leaf account %q", ErrMalformed, clip(l.Account))
	case !validID(l.Asset):
		return fmt.Errorf("%w: leaf asset %q", ErrMalformed, clip(l.Asset))
	case l.Amount == nil || l.Amount.Sign() < 0 || l.Amount.BitLen() > 8*MaxAmountLen:
		return fmt.Errorf("%w: leaf amount of %s/%s must be 0 .. 2^256-1", ErrMalformed, l.Account, l.Asset)
	}
	if _, err := blockBytes(l.Block); err != nil {
		return fmt.Errorf("leaf %s/%s: %w", l.Account, l.Asset, err)
	}
	return nil
}

// Encode is the leaf's canonical encoding (SPEC.md):
//
//	u8 len ‖ account ‖ u8 len ‖ asset ‖ amount (32 bytes, big-endian) ‖
//	height (u64 big-endian) ‖ block hash (32 bytes, in the order shown)
func (l Leaf) Encode() ([]byte, error) { return l.appendEncoding(nil) }

func (l Leaf) appendEncoding(b []byte) ([]byte, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	blk, _ := blockBytes(l.Block)
	b = append(b, byte(len(l.Account)))
	b = append(b, l.Account...)
	b = append(b, byte(len(l.Asset)))
	b = append(b, l.Asset...)
	var amt [32]byte
	l.Amount.FillBytes(amt[:])
	b = append(b, amt[:]...)
	b = binary.BigEndian.AppendUint64(b, l.Height)
	return append(b, blk[:]...), nil
}

// Hash is the leaf's tagged hash, H_leaf(Encode()).
func (l Leaf) Hash() ([32]byte, error) {
	enc, err := l.Encode()
	if err != nil {
		return [32]byte{}, err
	}
	return newHasher(LeafTag).sum(enc), nil
}

// less orders leaves by account, then asset (bytewise): the tree's order.
func less(a, b Leaf) int {
	if c := strings.Compare(a.Account, b.Account); c != 0 {
		return c
	}
	return strings.Compare(a.Asset, b.Asset)
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func blockBytes(s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return h, fmt.Errorf("%w: block hash %q: want 64 hex characters", ErrMalformed, clip(s))
	}
	copy(h[:], b)
	return h, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// hasher computes one tag's tagged hashes, SHA-256(SHA-256(tag) ‖
// SHA-256(tag) ‖ msg) (BIP340), with the 64-byte prefix (one SHA-256
// block) hashed once and its state cloned for each message.
type hasher struct {
	prefix [64]byte
	state  hash.Hash
}

func newHasher(tag string) *hasher {
	t := sha256.Sum256([]byte(tag))
	x := &hasher{}
	copy(x.prefix[:32], t[:])
	copy(x.prefix[32:], t[:])
	x.state = sha256.New()
	x.state.Write(x.prefix[:])
	return x
}

// sum returns the tagged hash of the concatenation of parts.
func (x *hasher) sum(parts ...[]byte) [32]byte {
	var h hash.Hash
	if c, ok := x.state.(hash.Cloner); ok {
		if cl, err := c.Clone(); err == nil {
			h = cl
		}
	}
	if h == nil { // a build whose SHA-256 cannot clone its state
		h = sha256.New()
		h.Write(x.prefix[:])
	}
	for _, p := range parts {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// HexHash is a 32-byte hash written as 64 hex characters in JSON.
type HexHash [32]byte

// MarshalText writes lower-case hex.
func (h HexHash) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h[:])), nil }

// UnmarshalText reads 64 hex characters.
func (h *HexHash) UnmarshalText(b []byte) error {
	v, err := blockBytes(string(b))
	if err != nil {
		return fmt.Errorf("%w: hash %q: want 64 hex characters", ErrMalformed, clip(string(b)))
	}
	*h = v
	return nil
}

// String is the hex form.
func (h HexHash) String() string { return hex.EncodeToString(h[:]) }
