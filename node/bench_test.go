package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/triad-custody/triad/node/nodetest"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
	"github.com/triad-custody/triad/tss/rawtss"
)

// rawSign signs digest with the custodian's and exchange's fixture shares
// using tss-lib alone (package rawtss): the baseline Triad is measured
// against.
func rawSign(b *testing.B, shares map[string]*tss.KeyShare, digest [32]byte) {
	if err := rawtss.Sign(shares, []string{"custodian", "exchange"}, digest); err != nil {
		b.Fatal(err)
	}
}

func p50(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkSignVsRawTSSLib signs through three Triad nodes over libp2p on
// loopback and with raw tss-lib in-process, alternating, in the same run,
// and reports the p50 of each and their ratio (goal: ≤ 1.05).
//
//	go test ./node -run '^$' -bench SignVsRaw -benchtime 20x
func BenchmarkSignVsRawTSSLib(b *testing.B) {
	_, nodes := libp2pCluster(b, clusterOpts{withShares: true})
	shares := map[string]*tss.KeyShare{}
	for _, p := range parties {
		shares[p] = nodetest.Share(b, p)
	}
	ctx := context.Background()
	// Warm up both paths (connections, allocations).
	if _, err := nodes["custodian"].Sign(ctx, SignRequest{KeyID: fixtures.KeyID, RequestID: "warm", Digest: sha256.Sum256([]byte("warm")), Partner: "exchange"}); err != nil {
		b.Fatal(err)
	}
	rawSign(b, shares, sha256.Sum256([]byte("warm")))
	var rawT, triadT []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := sha256.Sum256([]byte(fmt.Sprint("bench ", i)))
		t0 := time.Now()
		rawSign(b, shares, d)
		rawT = append(rawT, time.Since(t0))
		t1 := time.Now()
		res, err := nodes["custodian"].Sign(ctx, SignRequest{KeyID: fixtures.KeyID, RequestID: fmt.Sprint("bench-", i), Digest: d, Partner: "exchange"})
		if err != nil {
			b.Fatal(err)
		}
		triadT = append(triadT, time.Since(t1))
		if len(res.Attempts) != 1 {
			b.Fatalf("failover during the benchmark: %+v", res.Attempts)
		}
	}
	b.StopTimer()
	r, t := p50(rawT), p50(triadT)
	ratio := float64(t) / float64(r)
	b.ReportMetric(float64(r.Microseconds())/1000, "raw-p50-ms")
	b.ReportMetric(float64(t.Microseconds())/1000, "triad-p50-ms")
	b.ReportMetric(ratio, "ratio")
	b.Logf("n=%d  raw tss-lib p50 %v  triad over libp2p p50 %v  ratio %.3f", b.N, r, t, ratio)
}
