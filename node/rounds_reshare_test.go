package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/tss/fixtures"
)

// resharingRounds are the rounds of tss-lib's ECDSA resharing; phase
// resharingRounds+1 is Triad's broadcast echo.
const resharingRounds = 4

// The deadlines of a test of every round are calibrated on the machine
// that runs it: roundsFactor times one healthy run of the protocol there,
// at least roundsMinTimeout, so that a healthy run among casesAtOnce
// finishes in time on a loaded machine and a quiet one waits little for
// the deadlines of the failing runs. Signing has roundsSignTimeout.
const (
	roundsFactor      = 6
	roundsMinTimeout  = 20 * time.Second
	roundsSignTimeout = time.Minute
	casesAtOnce       = 3
)

// calibrate times run, one healthy run of a protocol, and returns the
// deadline for the cases of a test of every round.
func calibrate(t *testing.T, what string, run func(t *testing.T)) time.Duration {
	start := time.Now()
	run(t)
	d := max(roundsFactor*time.Since(start), roundsMinTimeout)
	t.Logf("a healthy %s took %v: deadline %v", what, time.Since(start).Round(time.Millisecond), d.Round(time.Second))
	return d
}

// call runs f in a goroutine and waits for it until d, the one deadline
// of this wait; a late f fails the test (f keeps its own context).
func call[T any](t *testing.T, d time.Duration, what string, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return wait(t, ctx, ch, what)
}

// ../shared/SECURITY.md scenarios 11, 12 and 15 (and 34's blame) for resharing: while the
// custodian, the exchange and a replacement regulator reshare, the
// exchange is cut off, killed or muted (see loseAt) as it sends its first
// envelope of round r, for every round of resharing and for the echo.
// Each time the reshare fails within its deadline naming the exchange, no
// node keeps a pending share (a muted exchange, which hears every echo,
// ends undecided with a pending share, by design: the operator resolves
// it from the other nodes' views), the custodian and the exchange keep
// their old shares in force (and the old pair still signs), and once the
// exchange is back a retry with a new order succeeds: every node holds a
// new share of the same key and the new committee signs. All fifteen run,
// casesAtOnce at a time, against a reshare deadline calibrated on a
// healthy reshare (reshare.Options.Timeout).
func TestResharePartyLostAtEveryRound(t *testing.T) {
	if testing.Short() {
		t.Skip("a reshare per round")
	}
	timeout := calibrate(t, "reshare", func(t *testing.T) {
		_, nodes, ops, _ := replaceOnMem(t)
		if _, err := nodes["custodian"].Reshare(context.Background(), ops.order(fixtureSpec(t, "healthy", "regulator", ""), "custodian", "exchange"), nil); err != nil {
			t.Fatal(err)
		}
	})
	everyCase(t, resharingRounds+1, func(t *testing.T, mode string, r int) {
		resharePartyLost(t, mode, r, timeout)
	})
}

// everyCase runs f for each mode (cut, kill, mute) and each phase 1..phases
// as subtests, casesAtOnce at a time. Not t.Parallel, which runs at most
// GOMAXPROCS at a time: most of a case is the wait for a deadline.
func everyCase(t *testing.T, phases int, f func(t *testing.T, mode string, r int)) {
	sem := make(chan struct{}, casesAtOnce)
	var wg sync.WaitGroup
	for _, mode := range []string{"cut", "kill", "mute"} {
		for r := 1; r <= phases; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				t.Run(fmt.Sprintf("%s at round %d", mode, r), func(t *testing.T) { f(t, mode, r) })
			}()
		}
	}
	wg.Wait()
}

func resharePartyLost(t *testing.T, mode string, r int, timeout time.Duration) {
	net, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: roundsSignTimeout,
		preParams: map[string][]int{"custodian": {0, 0}, "exchange": {1, 1}, "regulator": {2}}})
	ops, pub := newOperators(t)
	nodes["regulator"].Close()
	nodes["regulator"] = freshNode(t, "regulator", net.Join("regulator"), 3, 3)
	undecided := make(chan string, 4)
	for _, p := range parties {
		nodes[p].EnableRecovery(reshare.Options{Operators: pub, Timeout: timeout, Observer: func(e reshare.Event) {
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The reshare ends at its own deadline at the latest, once the round
	// being computed then is done (tss-lib computes under the session's
	// lock); the margin covers that on a loaded machine.
	err := call(t, timeout+timeout/2, "the reshare with the exchange lost", func() error {
		_, err := nodes["custodian"].Reshare(ctx, ops.order(fixtureSpec(t, "lost-1", "regulator", ""), "custodian", "exchange"), nil)
		return err
	})
	if !l.wasLost() {
		t.Fatalf("the exchange never reached phase %d: %v", r, err)
	}
	if err == nil || !strings.Contains(err.Error(), "exchange") {
		t.Fatalf("reshare with the exchange lost: %v", err)
	}
	l.heal()
	if mode == "mute" && r == resharingRounds+1 {
		// The muted exchange heard every echo, sealed its new share as
		// pending and sent its confirmation, which nobody heard: it
		// cannot know whether the others committed, so it keeps both
		// shares, undecided. The others still hold the old committee,
		// so the operator discards its pending share (`triad reshare
		// resolve`).
		wctx, wcancel := context.WithTimeout(ctx, timeout)
		defer wcancel()
		if p := wait(t, wctx, undecided, "the exchange's reshare to end undecided"); p != "exchange" {
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
	signWith(t, nodes, "custodian", "exchange", "old-pair")
	err = call(t, timeout+timeout/2, "the retry", func() error {
		_, err := nodes["custodian"].Reshare(ctx, ops.order(fixtureSpec(t, "lost-2", "regulator", ""), "custodian", "exchange"), nil)
		return err
	})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	for _, p := range parties {
		s, err := nodes[p].keys.Load(ctx, fixtures.KeyID)
		if err != nil || s.Self.ID != p+"#2" {
			t.Fatalf("%s after the retry: %v %v", p, s, err)
		}
	}
	signWith(t, nodes, "regulator", "exchange", "new-pair")
}

// signWith has coord and partner sign a digest of tag under the fixture
// key within their sign_timeout (and a margin), and checks the signature.
func signWith(t *testing.T, nodes map[string]*testNode, coord, partner, tag string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type out struct {
		res *SignResult
		err error
	}
	o := call(t, nodes[coord].opt.SignTimeout*2+10*time.Second, coord+" and "+partner+" signing", func() out {
		res, err := nodes[coord].Sign(ctx, SignRequest{KeyID: fixtures.KeyID, RequestID: tag,
			Digest: sha256.Sum256([]byte(tag)), Partner: partner})
		return out{res, err}
	})
	if o.err != nil {
		t.Fatalf("%s and %s (%s): %v", coord, partner, tag, o.err)
	}
	verifySig(t, fixturePub(t), o.res.Signature)
}
