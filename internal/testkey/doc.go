// Package testkey makes whole secp256k1 keys for tests only: a key from a
// seed string, standing in for a threshold group key, and the child key
// that the threshold key-derivation path computes from it (parent +
// delta). Nothing outside tests may import it.
package testkey
