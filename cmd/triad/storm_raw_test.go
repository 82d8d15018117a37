package main

import (
	"crypto/sha256"
	"fmt"
	"syscall"
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
	d, _ := rawSignTimesCPU(t, n)
	return d
}

// rawSignTimesCPU is rawSignTimes with the CPU time this process spent
// in it (user+system; the machine's other load is not in it).
func rawSignTimesCPU(t testing.TB, n int) (wall, cpu time.Duration) {
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
	cpu0, start := selfCPU(), time.Now()
	for i := 0; i < n; i++ {
		rawSign(t, shares, sha256.Sum256([]byte(fmt.Sprint("storm floor ", i))))
	}
	return time.Since(start), selfCPU() - cpu0
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rawSign(t testing.TB, shares map[string]*tss.KeyShare, digest [32]byte) {
	t.Helper()
	if err := rawtss.Sign(shares, []string{"custodian", "exchange"}, digest); err != nil {
		t.Fatal(err)
	}
}
