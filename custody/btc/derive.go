package btc

import (
	"fmt"
	"math/big"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/tss"
)

// BIP32 derivation lives in package tss (tss/bip32.go), the lowest package
// that needs it (every signer applies the child's tweak); these names
// forward to it for the Bitcoin code that reads them here.

// HardenedKeyStart is the first hardened BIP32 index (2^31). Indices at or
// above it need the private key and cannot be derived here.
const HardenedKeyStart = tss.HardenedKeyStart

// MaxPathDepth bounds derivation paths (BIP32 serialises depth as one byte).
const MaxPathDepth = tss.MaxPathDepth

// ChainCode is tss.ChainCode: the chain code Triad pairs with a group key.
func ChainCode(groupPub *btcec.PublicKey) []byte { return tss.ChainCode(groupPub) }

// ParsePath is tss.ParsePath: a non-hardened path such as "m/0/7".
func ParsePath(s string) ([]uint32, error) { return tss.ParsePath(s) }

// FormatPath is tss.FormatPath, the inverse of ParsePath.
func FormatPath(path []uint32) string { return tss.FormatPath(path) }

// DeriveChild is tss.DeriveChild: the child public key along path and the
// additive tweak delta, childPub = groupPub + delta·G.
func DeriveChild(groupPub *btcec.PublicKey, chainCode []byte, path []uint32) (*btcec.PublicKey, *big.Int, error) {
	if groupPub == nil {
		return nil, nil, fmt.Errorf("derive: %w: nil", ErrBadPublicKey)
	}
	return tss.DeriveChild(groupPub, chainCode, path)
}
