package holdings

import (
	"errors"
	"math/big"
	"testing"
)

// refRoot is RFC 9162's recursive definition of the Merkle tree hash, with
// Triad's tagged hashes: the reference the bottom-up Build must equal.
func refRoot(hs [][32]byte) [32]byte {
	switch len(hs) {
	case 0:
		return newHasher(EmptyTag).sum()
	case 1:
		return hs[0]
	}
	k := 1
	for k*2 < len(hs) {
		k *= 2
	}
	l, r := refRoot(hs[:k]), refRoot(hs[k:])
	return newHasher(NodeTag).sum(l[:], r[:])
}

func TestTreeMatchesRFC9162AndEveryProofVerifies(t *testing.T) {
	for n := 0; n <= 70; n++ {
		leaves := genLeaves(n)
		tr, err := Build(leaves)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tr.Root(), refRoot(tr.levels[0]); got != want {
			t.Fatalf("n=%d: root %x, RFC 9162 says %x", n, got, want)
		}
		for i := range tr.Size() {
			p, err := tr.Prove(i)
			if err != nil {
				t.Fatal(err)
			}
			r, err := RootFromInclusion(tr.levels[0][i], p)
			if err != nil || r != tr.Root() {
				t.Fatalf("n=%d leaf %d: root %x err %v", n, i, r, err)
			}
			// The same path at another index fails. (A path alone does not
			// fix the size: the signed snapshot does, and Verify checks it.)
			if tr.Size() > 1 {
				q := p
				q.Index = (p.Index + 1) % p.Size
				if r, err := RootFromInclusion(tr.levels[0][i], q); err == nil && r == tr.Root() {
					t.Fatalf("n=%d leaf %d verifies at index %d", n, i, q.Index)
				}
			}
		}
	}
}

func TestBuildSortsAndRefusesDuplicates(t *testing.T) {
	leaves := genLeaves(10)
	rev := make([]Leaf, len(leaves))
	for i := range leaves {
		rev[len(leaves)-1-i] = leaves[i]
	}
	a, _ := Build(leaves)
	b, err := Build(rev)
	if err != nil || a.Root() != b.Root() {
		t.Fatalf("input order changed the root (err %v)", err)
	}
	dup := append(genLeaves(3), Leaf{Account: "acct-000001", Asset: "BTC", Amount: big.NewInt(1), Height: 1, Block: testBlock})
	if _, err := Build(dup); !errors.Is(err, ErrMalformed) {
		t.Fatalf("duplicate (account, asset): %v", err)
	}
	bad := []Leaf{{Account: "a b", Asset: "BTC", Amount: big.NewInt(1), Block: testBlock}}
	if _, err := Build(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad account: %v", err)
	}
	neg := []Leaf{{Account: "a", Asset: "BTC", Amount: big.NewInt(-1), Block: testBlock}}
	if _, err := Build(neg); !errors.Is(err, ErrMalformed) {
		t.Fatalf("negative amount: %v", err)
	}
}
