package holdings

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// ChainHead is the head of one chain a snapshot was read at.
type ChainHead struct {
	// Chain names the chain and network, e.g. "bitcoin/regtest".
	Chain  string `json:"chain"`
	Height uint64 `json:"height"`
	// Block is the head's hash as the node shows it (hex).
	Block string `json:"block"`
}

// Snapshot is the message the attestation key signs: the root of the
// holdings tree, its size, when it was taken and at which chain heads.
type Snapshot struct {
	// Time is when the snapshot was taken (UTC, whole seconds).
	Time   time.Time   `json:"time"`
	Root   HexHash     `json:"root"`
	Leaves uint64      `json:"leaves"`
	Chains []ChainHead `json:"chains"`
}

// MaxChains bounds the chain heads of one snapshot.
const MaxChains = 16

// Validate checks the snapshot is encodable: time in whole seconds after
// 1970, at least one chain head, heads sorted by chain name, unique.
func (s Snapshot) Validate() error {
	switch {
	case s.Time.Unix() < 0 || s.Time.Nanosecond() != 0:
		return fmt.Errorf("%w: snapshot time %s: want whole seconds after 1970", ErrMalformed, s.Time)
	case len(s.Chains) == 0 || len(s.Chains) > MaxChains:
		return fmt.Errorf("%w: %d chain heads, want 1..%d", ErrMalformed, len(s.Chains), MaxChains)
	case s.Leaves > MaxLeaves:
		return fmt.Errorf("%w: %d leaves, at most %d", ErrMalformed, s.Leaves, MaxLeaves)
	}
	for i, c := range s.Chains {
		if len(c.Chain) == 0 || len(c.Chain) > MaxIDLen || strings.ContainsFunc(c.Chain, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return fmt.Errorf("%w: chain name %q", ErrMalformed, clip(c.Chain))
		}
		if i > 0 && s.Chains[i-1].Chain >= c.Chain {
			return fmt.Errorf("%w: chain heads must be sorted by name, once each", ErrMalformed)
		}
		if _, err := blockBytes(c.Block); err != nil {
			return fmt.Errorf("chain %s: %w", c.Chain, err)
		}
	}
	return nil
}

// Encode is the snapshot's canonical encoding (SPEC.md):
//
//	time (u64 big-endian, Unix seconds) ‖ root (32) ‖ leaves (u64) ‖
//	u8 number of heads ‖ for each, sorted by name:
//	    u8 len ‖ chain ‖ height (u64) ‖ block hash (32, in the order shown)
func (s Snapshot) Encode() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	b := binary.BigEndian.AppendUint64(nil, uint64(s.Time.Unix()))
	b = append(b, s.Root[:]...)
	b = binary.BigEndian.AppendUint64(b, s.Leaves)
	b = append(b, byte(len(s.Chains)))
	for _, c := range s.Chains {
		blk, _ := blockBytes(c.Block)
		b = append(b, byte(len(c.Chain)))
		b = append(b, c.Chain...)
		b = binary.BigEndian.AppendUint64(b, c.Height)
		b = append(b, blk[:]...)
	}
	return b, nil
}

// Digest is what the attestation key signs: H_snapshot(Encode()), a
// BIP340 tagged hash under SnapshotTag. SPEC.md says why it can be no
// transaction digest.
func (s Snapshot) Digest() ([32]byte, error) {
	enc, err := s.Encode()
	if err != nil {
		return [32]byte{}, err
	}
	return newHasher(SnapshotTag).sum(enc), nil
}

// head returns the snapshot's head of chain name.
func (s Snapshot) head(height uint64, block string) bool {
	return slices.ContainsFunc(s.Chains, func(c ChainHead) bool { return c.Height == height && strings.EqualFold(c.Block, block) })
}

// Attestation is a snapshot signed by the attestation key.
type Attestation struct {
	KeyID    string   `json:"key_id"`
	Snapshot Snapshot `json:"snapshot"`
	// R and S are the ECDSA signature over Snapshot.Digest() (32 bytes
	// each, big-endian).
	R HexHash `json:"r"`
	S HexHash `json:"s"`
}

// Verify checks the signature is pub's over the snapshot's digest.
func (a Attestation) Verify(pub *btcec.PublicKey) error {
	if pub == nil {
		return fmt.Errorf("%w: no group public key", ErrProof)
	}
	d, err := a.Snapshot.Digest()
	if err != nil {
		return err
	}
	var r, s btcec.ModNScalar
	if r.SetBytes((*[32]byte)(&a.R)) != 0 || s.SetBytes((*[32]byte)(&a.S)) != 0 || r.IsZero() || s.IsZero() {
		return fmt.Errorf("%w: signature values out of range", ErrProof)
	}
	if !ecdsa.NewSignature(&r, &s).Verify(d[:], pub) {
		return fmt.Errorf("%w: the signature is not the attestation key's over this snapshot", ErrProof)
	}
	return nil
}

// ParseGroupKey parses a compressed (or uncompressed) secp256k1 public key
// in hex: the attestation key's group key.
func ParseGroupKey(s string) (*btcec.PublicKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%w: group key is not hex", ErrMalformed)
	}
	pub, err := btcec.ParsePubKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: group key: %v", ErrMalformed, err)
	}
	return pub, nil
}
