package node

import (
	"context"
	"testing"
	"time"
)

// healthySign times one signing on a fresh in-memory cluster with no
// faults: the yardstick for the deadlines of the signing tests that cut,
// drop or reorder frames, so that a loaded machine stretches their
// deadlines instead of failing a healthy run, and a quiet one waits
// little for the failing runs.
func healthySign(t *testing.T) time.Duration {
	t.Helper()
	_, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: time.Minute})
	start := time.Now()
	if _, err := nodes["custodian"].Sign(context.Background(), signReq("healthy")); err != nil {
		t.Fatalf("a healthy signing failed: %v", err)
	}
	d := time.Since(start)
	for _, n := range nodes {
		n.Close()
	}
	t.Logf("a healthy signing took %v", d.Round(time.Millisecond))
	return d
}
