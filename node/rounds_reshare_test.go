package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/tss/fixtures"
)

// resharingRounds are the rounds of tss-lib's ECDSA resharing; phase
// resharingRounds+1 is Triad's broadcast echo.
const resharingRounds = 4

// Scenarios 11, 12 and 15 for resharing: while the custodian, the exchange
// and a replacement regulator reshare, the exchange is cut off, killed or
// muted (see loseAt) as it sends its first envelope of round r, for every
// round of resharing and for the echo. Each time the reshare fails within
// its deadline naming the exchange, no node keeps a pending share (a muted
// exchange, which hears every echo, ends undecided with a pending share,
// by design: the operator resolves it from the other nodes' views), the
// custodian and the exchange keep their old shares in force (and the old
// pair still signs), and once the exchange is back a retry with a new
// order succeeds: every node holds a new share of the same key and the new
// committee signs. The suite runs "cut at round 3"; TRIAD_EVERY_ROUND=1
// runs all fifteen.
func TestResharePartyLostAtEveryRound(t *testing.T) {
	if testing.Short() {
		t.Skip("a reshare per round")
	}
	const timeout = 3 * time.Minute
	for _, mode := range []string{"cut", "kill", "mute"} {
		for r := 1; r <= resharingRounds+1; r++ {
			if !everyRound(mode, r, "cut", 3) {
				continue
			}
			t.Run(fmt.Sprintf("%s at round %d", mode, r), func(t *testing.T) {
				net, nodes := memCluster(t, clusterOpts{withShares: true,
					preParams: map[string][]int{"custodian": {0, 0}, "exchange": {1, 1}, "regulator": {2}}})
				ops, pub := newOperators(t)
				nodes["regulator"].Close()
				nodes["regulator"] = freshNode(t, "regulator", net.Join("regulator"), 3, 3)
				undecided := make(chan string, 4)
				for _, p := range parties {
					nodes[p].EnableRecovery(RecoveryOptions{Operators: pub, Timeout: timeout, Observer: func(e ReshareEvent) {
						if e.Step == "undecided" {
							select {
							case undecided <- e.Party:
							default:
							}
						}
					}})
				}
				l := &loseAt{net: net, party: "exchange", mode: mode, r: r, echo: resharingRounds + 1}
				net.Intercept(l.intercept)
				ctx, cancel := context.WithTimeout(context.Background(), 4*timeout)
				defer cancel()
				start := time.Now()
				_, err := nodes["custodian"].Reshare(ctx, ops.order(fixtureSpec(t, "lost-1", "regulator", ""), "custodian", "exchange"), nil)
				el := time.Since(start)
				if !l.wasLost() {
					t.Fatalf("the exchange never reached phase %d: %v after %v", r, err, el)
				}
				if err == nil || !strings.Contains(err.Error(), "exchange") {
					t.Fatalf("reshare with the exchange lost: %v", err)
				}
				if el > timeout+timeout/2 {
					t.Fatalf("failed after %v against a %v deadline", el, timeout)
				}
				l.heal()
				if mode == "mute" && r == resharingRounds+1 {
					// The muted exchange heard every echo, sealed its new
					// share as pending and sent its confirmation, which
					// nobody heard: it cannot know whether the others
					// committed, so it keeps both shares, undecided. The
					// others still hold the old committee, so the operator
					// discards its pending share (`triad reshare resolve`).
					if p := wait(t, ctx, undecided, "the exchange's reshare to end undecided"); p != "exchange" {
						t.Fatalf("%s undecided", p)
					}
					view, err := nodes["exchange"].keys.PendingView(ctx, fixtures.KeyID)
					if err != nil {
						t.Fatal(err)
					}
					if err := nodes["exchange"].ResolveReshare(ctx, fixtures.KeyID, view, false); err != nil {
						t.Fatal(err)
					}
				}
				for _, p := range parties {
					if nodes[p].keys.HasPending(fixtures.KeyID) {
						t.Fatalf("%s kept a pending share of a reshare that failed", p)
					}
				}
				if nodes["regulator"].keys.Has(fixtures.KeyID) {
					t.Fatal("the replacement holds a share of a reshare that failed")
				}
				for _, p := range []string{"custodian", "exchange"} {
					s, err := nodes[p].keys.Load(ctx, fixtures.KeyID)
					if err != nil || s.Self.ID != p {
						t.Fatalf("%s: old share not in force: %v %v", p, s, err)
					}
				}
				res, err := nodes["custodian"].Sign(ctx, SignRequest{KeyID: fixtures.KeyID, RequestID: "old-pair",
					Digest: sha256.Sum256([]byte("old pair")), Partner: "exchange"})
				if err != nil {
					t.Fatalf("the old pair after a failed reshare: %v", err)
				}
				verifySig(t, fixturePub(t), res.Signature)

				if _, err := nodes["custodian"].Reshare(ctx, ops.order(fixtureSpec(t, "lost-2", "regulator", ""), "custodian", "exchange"), nil); err != nil {
					t.Fatalf("retry: %v", err)
				}
				for _, p := range parties {
					s, err := nodes[p].keys.Load(ctx, fixtures.KeyID)
					if err != nil || s.Self.ID != p+"#2" {
						t.Fatalf("%s after the retry: %v %v", p, s, err)
					}
				}
				res, err = nodes["regulator"].Sign(ctx, SignRequest{KeyID: fixtures.KeyID, RequestID: "new-pair",
					Digest: sha256.Sum256([]byte("new pair")), Partner: "exchange"})
				if err != nil {
					t.Fatalf("the new committee: %v", err)
				}
				verifySig(t, fixturePub(t), res.Signature)
			})
		}
	}
}
