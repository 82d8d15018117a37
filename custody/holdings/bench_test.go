package holdings

import (
	"fmt"
	"math/big"
	"testing"

	"github.com/triad-custody/triad/internal/testkey"
)

// The goals on this 2-core machine: a 100,000-account snapshot
// builds its tree and every proof in < 2 s; one proof verifies in < 1 ms.
//
//	go test ./custody/holdings -run '^$' -bench . -benchtime 5x

func accounts(n int) []Leaf {
	out := make([]Leaf, n)
	for i := range out {
		out[i] = Leaf{Account: fmt.Sprintf("client-%07d", i), Asset: "BTC", Amount: big.NewInt(int64(i) * 1000), Height: 101, Block: testBlock}
	}
	return out
}

func BenchmarkSnapshot100k(b *testing.B) {
	leaves := accounts(100_000)
	k := testkey.Private("attest")
	b.ResetTimer()
	for b.Loop() {
		tr, err := Build(leaves)
		if err != nil {
			b.Fatal(err)
		}
		att := signSnapshot(b, k, snapshotOf(b, tr))
		for _, l := range tr.leaves {
			if _, err := ProofFor(tr, att, l.Account); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkVerifyProof(b *testing.B) {
	tr, _ := Build(accounts(100_000))
	k := testkey.Private("attest")
	p, err := ProofFor(tr, signSnapshot(b, k, snapshotOf(b, tr)), "client-0054321")
	if err != nil {
		b.Fatal(err)
	}
	pub := k.PubKey()
	b.ResetTimer()
	for b.Loop() {
		if err := p.Verify(pub); err != nil {
			b.Fatal(err)
		}
	}
}
