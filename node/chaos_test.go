package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/triad-custody/triad/node/memnet"
)

// chaosRuns is the number of seeded signing runs of TestChaosSigning:
// TRIAD_CHAOS_RUNS=5000 for the long soak, 16 in the suite.
func chaosRuns(t *testing.T) int {
	if v := os.Getenv("TRIAD_CHAOS_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TRIAD_CHAOS_RUNS=%q: want a positive count", v)
		}
		return n
	}
	if testing.Short() {
		return 5
	}
	return 16
}

// ../shared/SECURITY.md scenario 14: frames lost, duplicated and reordered at random (seeded,
// one seed per run, printed on failure). Every run either signs, with a
// signature valid under the group key, or fails cleanly with
// ErrNoSigners within its sign_timeout; never a wrong signature, and no
// goroutine outlives the runs.
func TestChaosSigning(t *testing.T) {
	healthy := healthySign(t)
	// Short, so an aborted run costs little; the margin is one round of
	// tss-lib arithmetic, slow under -race and on a loaded machine.
	timeout, margin := max(3*time.Second, 4*healthy), max(2*time.Second, 2*healthy)
	before := runtime.NumGoroutine()
	net, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: timeout})
	pub := fixturePub(t)
	runs := chaosRuns(t)
	signed := 0
	for i := 0; i < runs; i++ {
		seed := int64(i + 1)
		net.SetChaos(&memnet.Chaos{Seed: seed, Drop: 0.01, Dup: 0.1, Reorder: 0.2, MaxHold: 20 * time.Millisecond})
		coord := parties[i%len(parties)]
		start := time.Now()
		res, err := nodes[coord].Sign(context.Background(), signReq(fmt.Sprintf("chaos %d", seed)))
		if el := time.Since(start); el > timeout+margin {
			t.Fatalf("seed %d: Sign took %v against a %v sign_timeout: %v %+v", seed, el, timeout, err, res)
		}
		if err != nil {
			if !errors.Is(err, ErrNoSigners) {
				t.Fatalf("seed %d: unclean failure: %v", seed, err)
			}
			continue
		}
		verifySig(t, pub, res.Signature) // a wrong signature fails here
		signed++
	}
	net.SetChaos(nil)
	t.Logf("%d of %d chaotic runs signed, the rest aborted cleanly", signed, runs)
	if signed == 0 {
		t.Fatal("no run signed: the chaos is too strong to tell anything")
	}
	for _, n := range nodes {
		n.Close()
	}
	// Held frames are delivered (and dropped) within MaxHold; sessions and
	// their watchers end with Close. One deadline for the lot.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after the runs\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
}
