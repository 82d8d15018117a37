package testkey_test

import (
	"math/big"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/triad-custody/triad/internal/testkey"
)

// The child's public key is the parent's plus delta·G, and a seed always
// gives the same key.
func TestChildIsParentPlusDelta(t *testing.T) {
	p := testkey.Private("vault-1")
	if !p.PubKey().IsEqual(testkey.Private("vault-1").PubKey()) || p.PubKey().IsEqual(testkey.Private("vault-2").PubKey()) {
		t.Fatal("a seed does not name one key")
	}
	delta := big.NewInt(12345)
	c := testkey.Child(p, delta)
	var dG, sum btcec.JacobianPoint
	var d btcec.ModNScalar
	d.SetByteSlice(delta.Bytes())
	btcec.ScalarBaseMultNonConst(&d, &dG)
	var pj btcec.JacobianPoint
	p.PubKey().AsJacobian(&pj)
	btcec.AddNonConst(&pj, &dG, &sum)
	sum.ToAffine()
	if !btcec.NewPublicKey(&sum.X, &sum.Y).IsEqual(c.PubKey()) {
		t.Fatal("child is not parent + delta·G")
	}
}
