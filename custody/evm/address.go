package evm

import (
	"fmt"
	"math/big"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/triad-custody/triad/tss"
)

// Address is the Ethereum address of pub: the last 20 bytes of the
// Keccak-256 of its uncompressed encoding (without the 0x04 prefix).
// common.Address.Hex gives its EIP-55 checksummed form.
func Address(pub *btcec.PublicKey) common.Address {
	return common.BytesToAddress(crypto.Keccak256(pub.SerializeUncompressed()[1:])[12:])
}

// Account is one custody account's key on an EVM chain: the group key's
// BIP32 non-hardened child along Path (the same derivation and chain code
// as for Bitcoin, tss.ChildKey), its address, and the additive tweak
// Delta that threshold signing by the child key needs.
type Account struct {
	Path    string
	Public  *btcec.PublicKey
	Address common.Address
	Delta   *big.Int // nil for the group key itself
}

// DeriveAccount derives the account at path ("m" or "" for the group key).
func DeriveAccount(group *btcec.PublicKey, path string) (Account, error) {
	if group == nil {
		return Account{}, fmt.Errorf("%w: no group key", ErrPath)
	}
	path = orRoot(path)
	child, delta, err := tss.ChildKey(group, path)
	if err != nil {
		return Account{}, fmt.Errorf("%w: %w", ErrPath, err)
	}
	if delta.Sign() == 0 {
		delta = nil // the group key itself ("m")
	}
	return Account{Path: path, Public: child, Address: Address(child), Delta: delta}, nil
}

// ParseAddress parses a 0x-prefixed hex address. A mixed-case address must
// carry a valid EIP-55 checksum; all-lower or all-upper case has none.
func ParseAddress(s string) (common.Address, error) {
	if !common.IsHexAddress(s) || len(s) != 42 || s[:2] != "0x" {
		return common.Address{}, fmt.Errorf("%q is not a 0x-prefixed 20-byte hex address", clip(s))
	}
	a := common.HexToAddress(s)
	body := s[2:]
	if body != lower(body) && body != upper(body) && a.Hex() != s {
		return common.Address{}, fmt.Errorf("%q fails its EIP-55 checksum (want %s)", clip(s), a.Hex())
	}
	return a, nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'F' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
