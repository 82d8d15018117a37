package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/big"
	"sort"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// rawSign signs digest with the custodian's and exchange's fixture shares
// using tss-lib alone: two parties in this process, messages handed over
// in memory, no checks. It is the baseline Triad is measured against.
func rawSign(b *testing.B, shares map[string]*tss.KeyShare, digest [32]byte) {
	signers := []string{"custodian", "exchange"}
	var un tsslib.UnSortedPartyIDs
	for _, n := range signers {
		un = append(un, tsslib.NewPartyID(n, n, tss.Party{ID: n, Node: n}.Key()))
	}
	ids := tsslib.SortPartyIDs(un)
	ctx := tsslib.NewPeerContext(ids)
	out := make(chan tsslib.Message, 64)
	end := make(chan *common.SignatureData, 2)
	parties := map[string]tsslib.Party{}
	for _, id := range ids {
		params := tsslib.NewParameters(tsslib.S256(), ctx, id, len(ids), 1)
		key := keygen.BuildLocalSaveDataSubset(shares[id.Id].Data, ids)
		parties[id.Id] = signing.NewLocalParty(new(big.Int).SetBytes(digest[:]), params, key, out, end, 32)
	}
	errc := make(chan error, 64)
	for _, p := range parties {
		go func() {
			if err := p.Start(); err != nil {
				errc <- err
			}
		}()
	}
	done := 0
	for done < len(parties) {
		select {
		case m := <-out:
			wire, routing, err := m.WireBytes()
			if err != nil {
				b.Fatal(err)
			}
			for _, id := range ids {
				if id.Id == routing.From.Id || routing.To != nil && routing.To[0].Id != id.Id {
					continue
				}
				dst := parties[id.Id]
				go func() {
					if _, err := dst.UpdateFromBytes(wire, routing.From, routing.IsBroadcast); err != nil {
						errc <- err
					}
				}()
			}
		case <-end:
			done++
		case err := <-errc:
			b.Fatal(err)
		}
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
		shares[p] = fixtureShare(b, p)
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
