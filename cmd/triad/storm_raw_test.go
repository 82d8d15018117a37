package main

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
	"github.com/triad-custody/triad/tss/rawtss"
)

// rawSignTimes is the storm's floor: how long raw tss-lib takes for n
// signatures, one after another, on this machine in this run — the
// custodian's and exchange's fixture shares in this process, messages
// handed over in memory, no checks: package rawtss, the same floor
// node's BenchmarkSignVsRawTSSLib measures.
func rawSignTimes(t testing.TB, n int) time.Duration {
	t.Helper()
	shares := map[string]*tss.KeyShare{}
	for _, p := range []string{"custodian", "exchange"} {
		b, err := fixtures.Share(p)
		if err != nil {
			t.Fatal(err)
		}
		if shares[p], err = tss.UnmarshalShare(b); err != nil {
			t.Fatal(err)
		}
	}
	rawSign(t, shares, sha256.Sum256([]byte("storm floor warm-up"))) // as the node benchmark does
	start := time.Now()
	for i := 0; i < n; i++ {
		rawSign(t, shares, sha256.Sum256([]byte(fmt.Sprint("storm floor ", i))))
	}
	return time.Since(start)
}

func rawSign(t testing.TB, shares map[string]*tss.KeyShare, digest [32]byte) {
	t.Helper()
	if err := rawtss.Sign(shares, []string{"custodian", "exchange"}, digest); err != nil {
		t.Fatal(err)
	}
}
