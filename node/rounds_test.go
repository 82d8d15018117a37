package node

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

// envelopeRound is the tss round of an envelope frame (0 for any other
// frame), read from the JSON without the node's decoder.
func envelopeRound(b []byte) int {
	var f struct {
		Kind     string `json:"kind"`
		Envelope *struct {
			Round int `json:"round"`
		} `json:"envelope"`
	}
	if json.Unmarshal(b, &f) != nil || f.Envelope == nil {
		return 0
	}
	return f.Envelope.Round
}

// signingRounds are the rounds of tss-lib's ECDSA signing.
const signingRounds = 9

// ../shared/SECURITY.md scenarios 11 and 12: the exchange, signing with the custodian, is cut
// off (its frames vanish, the link looks up) or killed (its transport goes
// down) as it sends its first envelope of round r, for every round of
// signing in turn. Each time the attempt aborts within the sign_timeout,
// the exchange is named, and the custodian and the regulator sign.
func TestSignerLostAtEveryRound(t *testing.T) {
	// Long enough for a late cut (a third of it to notice the silence)
	// and a whole signing after it, under -race on a loaded machine; the
	// margin is one round of tss-lib arithmetic there.
	healthy := healthySign(t)
	timeout, margin := max(15*time.Second, roundsFactor*healthy), max(2*time.Second, 2*healthy)
	for _, mode := range []string{"cut", "kill"} {
		for r := 1; r <= signingRounds; r++ {
			if testing.Short() && r != 1 && r != 5 && r != signingRounds {
				continue
			}
			t.Run(fmt.Sprintf("%s at round %d", mode, r), func(t *testing.T) {
				net, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: timeout})
				var mu sync.Mutex
				lost := false
				net.Intercept(func(from, to string, f []byte) [][]byte {
					if from != "exchange" && to != "exchange" {
						return [][]byte{f}
					}
					mu.Lock()
					defer mu.Unlock()
					if !lost && from == "exchange" && envelopeRound(f) >= r {
						lost = true
						if mode == "kill" {
							net.Isolate("exchange", true) // later sends to or from it fail
						}
					}
					if lost {
						return nil
					}
					return [][]byte{f}
				})
				start := time.Now()
				res, err := nodes["custodian"].Sign(context.Background(), SignRequest{KeyID: signReq("").KeyID,
					RequestID: fmt.Sprintf("%s-%d", mode, r), Digest: signReq(fmt.Sprintf("%s-%d", mode, r)).Digest, Partner: "exchange"})
				el := time.Since(start)
				mu.Lock()
				wasLost := lost
				mu.Unlock()
				if !wasLost {
					t.Fatalf("the exchange never reached round %d", r)
				}
				if err != nil {
					t.Fatalf("%v after %v", err, el)
				}
				if el > timeout+margin {
					t.Fatalf("took %v against a %v sign_timeout", el, timeout)
				}
				if len(res.Attempts) != 2 || len(res.Attempts[0].Culprits) != 1 || res.Attempts[0].Culprits[0] != "exchange" {
					t.Fatalf("the first attempt should blame the exchange: %+v", res.Attempts)
				}
				if res.Signers[0] != "custodian" || res.Signers[1] != "regulator" {
					t.Fatalf("signed by %v", res.Signers)
				}
				verifySig(t, fixturePub(t), res.Signature)
			})
		}
	}
}
