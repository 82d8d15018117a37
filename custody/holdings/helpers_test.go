package holdings

import (
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

func signSnapshot(t testing.TB, k *btcec.PrivateKey, snap Snapshot) Attestation {
	t.Helper()
	d, err := snap.Digest()
	if err != nil {
		t.Fatal(err)
	}
	compact, err := ecdsa.SignCompact(k, d[:], true) // recovery byte ‖ R ‖ S
	if err != nil {
		t.Fatal(err)
	}
	a := Attestation{KeyID: "attest-1", Snapshot: snap}
	copy(a.R[:], compact[1:33])
	copy(a.S[:], compact[33:65])
	return a
}

const testBlock = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"

func testHead() ChainHead {
	return ChainHead{Chain: "bitcoin/regtest", Height: 101, Block: testBlock}
}

// genLeaves makes n accounts with two assets each for every third one.
func genLeaves(n int) []Leaf {
	var out []Leaf
	for i := 0; i < n; i++ {
		acct := fmt.Sprintf("acct-%06d", i)
		out = append(out, Leaf{Account: acct, Asset: "BTC", Amount: big.NewInt(int64(1000 + i)), Height: 101, Block: testBlock})
		if i%3 == 0 {
			out = append(out, Leaf{Account: acct, Asset: "USDC", Amount: big.NewInt(int64(7 * i)), Height: 101, Block: testBlock})
		}
	}
	return out
}

func snapshotOf(t testing.TB, tr *Tree) Snapshot {
	t.Helper()
	return Snapshot{Time: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), Root: HexHash(tr.Root()), Leaves: uint64(tr.Size()),
		Chains: []ChainHead{testHead()}}
}
