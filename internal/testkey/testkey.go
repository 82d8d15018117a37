package testkey

import (
	"crypto/sha256"
	"math/big"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Private is the key whose scalar is SHA-256(seed): the same seed gives
// the same key in every test.
func Private(seed string) *btcec.PrivateKey {
	h := sha256.Sum256([]byte(seed))
	k, _ := btcec.PrivKeyFromBytes(h[:])
	return k
}

// Child is parent + delta (mod n): what tss.ChildKey's delta makes of the
// group key, here on the whole private key.
func Child(parent *btcec.PrivateKey, delta *big.Int) *btcec.PrivateKey {
	var d btcec.ModNScalar
	d.SetByteSlice(delta.Bytes())
	k := parent.Key
	k.Add(&d)
	return btcec.PrivKeyFromScalar(&k)
}
