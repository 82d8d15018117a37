package main

import (
	"crypto/sha256"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// rawSignTimes is the storm's floor: how long raw tss-lib takes for n
// signatures, one after another, on this machine in this run — the
// custodian's and exchange's fixture shares in this process, messages
// handed over in memory, no checks. It is node/bench_test.go's rawSign
// (BenchmarkSignVsRawTSSLib), which lives in package node's tests and
// cannot be imported.
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
	var un tsslib.UnSortedPartyIDs
	for _, n := range []string{"custodian", "exchange"} {
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
	for done := 0; done < len(parties); {
		select {
		case m := <-out:
			wire, routing, err := m.WireBytes()
			if err != nil {
				t.Fatal(err)
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
			t.Fatal(err)
		}
	}
}
