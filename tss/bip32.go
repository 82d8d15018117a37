package tss

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// This file is Triad's one BIP32 derivation: public (non-hardened) child
// keys of a group key and the additive tweak a threshold signer applies
// to sign as the child (SignConfig.Delta). Every chain's addresses
// (custody/btc) and every signer (node) derive through ChildKey.

// ChildKey derives the child of group along path ("m/0/7"; "" is the group
// key itself, with no tweak) with the chain code every node computes from
// the group key (ChainCode). It returns the child public key and the tweak
// delta with child = group + delta·G.
func ChildKey(group *btcec.PublicKey, path string) (*btcec.PublicKey, *big.Int, error) {
	if path == "" {
		return group, nil, nil
	}
	steps, err := ParsePath(path)
	if err != nil {
		return nil, nil, err
	}
	if group == nil {
		return nil, nil, fmt.Errorf("derive %s: %w: nil", path, ErrBadPublicKey)
	}
	return DeriveChild(group, ChainCode(group), steps)
}

// ChildKey is ChildKey of this share's group public key.
func (k *KeyShare) ChildKey(path string) (*btcec.PublicKey, *big.Int, error) {
	pub, err := k.PublicKey()
	if err != nil {
		return nil, nil, err
	}
	return ChildKey(pub, path)
}

// HardenedKeyStart is the first hardened BIP32 index (2^31). Indices at or
// above it need the private key and cannot be derived here.
const HardenedKeyStart = 0x80000000

// MaxPathDepth bounds derivation paths (BIP32 serialises depth as one byte).
const MaxPathDepth = 255

// chainCodeTag domain-separates the chain code derived from a group key.
const chainCodeTag = "triad/custody/bip32-chain-code/v1"

// ChainCode returns the BIP32 chain code Triad pairs with a group public key:
// the BIP340 tagged hash of the compressed key under chainCodeTag. Every node
// computes it from the public key alone, so no extra secret or configuration
// has to be agreed; it is public, as a chain code in an xpub is.
func ChainCode(groupPub *btcec.PublicKey) []byte {
	h := chainhash.TaggedHash([]byte(chainCodeTag), groupPub.SerializeCompressed())
	return h[:]
}

// ParsePath parses a non-hardened BIP32 path such as "m/0/7" (or "m" for
// the key itself). Hardened components ("0'", "0h", "0H") are refused with
// ErrHardenedIndex; anything else malformed with ErrBadPath.
func ParsePath(s string) ([]uint32, error) {
	parts := strings.Split(s, "/")
	if parts[0] != "m" && parts[0] != "M" {
		return nil, fmt.Errorf("%w: %q must start with m", ErrBadPath, s)
	}
	parts = parts[1:]
	if len(parts) > MaxPathDepth {
		return nil, fmt.Errorf("%w: depth %d over %d", ErrBadPath, len(parts), MaxPathDepth)
	}
	path := make([]uint32, 0, len(parts))
	for i, p := range parts {
		if n := len(p); n > 0 && (p[n-1] == '\'' || p[n-1] == 'h' || p[n-1] == 'H') {
			return nil, fmt.Errorf("%w: component %d %q of %q", ErrHardenedIndex, i+1, p, s)
		}
		if p == "" || (len(p) > 1 && p[0] == '0') || strings.TrimLeft(p, "0123456789") != "" {
			return nil, fmt.Errorf("%w: component %d %q of %q is not a decimal index", ErrBadPath, i+1, p, s)
		}
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: component %d %q of %q: %v", ErrBadPath, i+1, p, s, err)
		}
		if v >= HardenedKeyStart {
			return nil, fmt.Errorf("%w: component %d is %d", ErrHardenedIndex, i+1, v)
		}
		path = append(path, uint32(v))
	}
	return path, nil
}

// FormatPath is the inverse of ParsePath.
func FormatPath(path []uint32) string {
	var b strings.Builder
	b.WriteString("m")
	for _, i := range path {
		b.WriteString("/")
		b.WriteString(strconv.FormatUint(uint64(i), 10))
	}
	return b.String()
}

// DeriveChild performs BIP32 public (non-hardened) derivation of path from
// groupPub with chainCode. It returns the child public key and the additive
// tweak delta (the sum of the per-level I_L, mod n) such that
//
//	childPub = groupPub + delta·G   and   childPriv = groupPriv + delta (mod n).
//
// delta is what each threshold signer passes to tss-lib as the key derivation
// delta (signing.UpdatePublicKeyAndAdjustBigXj, then NewLocalPartyWithKDD).
// delta is public: it follows from the public key and chain code.
// An empty path returns groupPub and delta 0.
func DeriveChild(groupPub *btcec.PublicKey, chainCode []byte, path []uint32) (*btcec.PublicKey, *big.Int, error) {
	if groupPub == nil {
		return nil, nil, fmt.Errorf("derive: %w: nil", ErrBadPublicKey)
	}
	if len(chainCode) != 32 {
		return nil, nil, fmt.Errorf("derive: %w: got %d", ErrBadChainCode, len(chainCode))
	}
	if len(path) > MaxPathDepth {
		return nil, nil, fmt.Errorf("derive: %w: depth %d over %d", ErrBadPath, len(path), MaxPathDepth)
	}
	key := groupPub
	code := append([]byte(nil), chainCode...)
	var delta btcec.ModNScalar
	for level, index := range path {
		if index >= HardenedKeyStart {
			return nil, nil, fmt.Errorf("derive %s: %w: level %d index %d", FormatPath(path), ErrHardenedIndex, level+1, index)
		}
		var data [37]byte
		copy(data[:33], key.SerializeCompressed())
		binary.BigEndian.PutUint32(data[33:], index)
		mac := hmac.New(sha512.New, code)
		mac.Write(data[:])
		sum := mac.Sum(nil)

		var il btcec.ModNScalar
		if overflow := il.SetByteSlice(sum[:32]); overflow || il.IsZero() {
			return nil, nil, fmt.Errorf("derive %s: %w: level %d index %d", FormatPath(path), ErrInvalidChild, level+1, index)
		}
		var ilG, parent, child btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(&il, &ilG)
		key.AsJacobian(&parent)
		btcec.AddNonConst(&ilG, &parent, &child)
		if (child.X.IsZero() && child.Y.IsZero()) || child.Z.IsZero() {
			return nil, nil, fmt.Errorf("derive %s: %w: level %d index %d is the point at infinity", FormatPath(path), ErrInvalidChild, level+1, index)
		}
		child.ToAffine()
		key = btcec.NewPublicKey(&child.X, &child.Y)
		code = sum[32:]
		delta.Add(&il)
	}
	d := delta.Bytes()
	return key, new(big.Int).SetBytes(d[:]), nil
}
