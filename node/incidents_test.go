package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/memnet"
)

// refuseAll declines every proposal: a peer that aborts on purpose.
type refuseAll struct{}

func (refuseAll) AuthorizeSign(context.Context, string, *Proposal) error {
	return errors.New("refusing everything")
}

// testClock is the wall clock moved forward by Advance (session deadlines
// become real-time contexts, so it must keep running).
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// abortingExchange is a cluster whose exchange declines every proposal,
// with incidents files and a settable clock.
func abortingExchange(t *testing.T) (map[string]*testNode, map[string]string, *testClock) {
	files := map[string]string{}
	for _, p := range parties {
		files[p] = filepath.Join(t.TempDir(), "incidents.json")
	}
	clock := &testClock{}
	_, nodes := memCluster(t, clusterOpts{withShares: true, incidents: files, now: clock.Now,
		authorizer: func(p string) Authorizer {
			if p == "exchange" {
				return refuseAll{}
			}
			return AllowAll{}
		}})
	return nodes, files, clock
}

// ../shared/SECURITY.md scenario 34: a peer that aborts again and again has its breaker opened
// and is routed around: the coordinator goes straight to the other
// partner, no retry through the aborting peer, until the blames age out.
func TestBreakerRoutesAroundAbortingPeer(t *testing.T) {
	nodes, _, clock := abortingExchange(t)
	cust := nodes["custodian"]
	for i := 0; i < breakerAborts; i++ {
		if b := cust.Breaker("exchange"); b.Open {
			t.Fatalf("breaker open after %d aborts: %+v", i, b)
		}
		res, err := cust.Sign(context.Background(), signReq("abort "+string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Attempts) != 2 || res.Attempts[0].Culprits[0] != "exchange" {
			t.Fatalf("sign %d: attempts %+v", i, res.Attempts)
		}
	}
	b := cust.Breaker("exchange")
	if !b.Open || b.Aborts != breakerAborts || !b.Until.After(clock.Now()) {
		t.Fatalf("breaker after %d aborts: %+v", breakerAborts, b)
	}
	if r := cust.Breaker("regulator"); r.Open || r.Aborts != 0 {
		t.Fatalf("regulator's breaker: %+v", r)
	}
	res, err := cust.Sign(context.Background(), signReq("routed around"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 1 || res.Signers[1] != "regulator" {
		t.Fatalf("breaker open, yet attempts %+v", res.Attempts)
	}
	verifySig(t, fixturePub(t), res.Signature)

	clock.Advance(breakerWindow)
	if b := cust.Breaker("exchange"); b.Open {
		t.Fatalf("breaker still open after the window: %+v", b)
	}
	res, err = cust.Sign(context.Background(), signReq("closed again"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 2 || !contains(res.Attempts[0].Signers, "exchange") {
		t.Fatalf("breaker closed: exchange should be tried first again: %+v", res.Attempts)
	}
}

// ../shared/SECURITY.md scenario 34: incidents, and the breaker they feed, survive a restart.
func TestIncidentsSurviveRestart(t *testing.T) {
	nodes, files, clock := abortingExchange(t)
	cust := nodes["custodian"]
	for i := 0; i < breakerAborts; i++ {
		if _, err := cust.Sign(context.Background(), signReq("before restart "+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	before := cust.Incidents()
	if len(before) != breakerAborts {
		t.Fatalf("incidents before restart: %+v", before)
	}
	cust.Close()

	restarted, err := New(Options{Party: "custodian", Parties: parties, Transport: memnet.New().Join("custodian"),
		Keys: cust.keys, Pool: fixturePool(t, 0), Authorizer: AllowAll{}, IncidentsFile: files["custodian"], Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close()
	after := restarted.Incidents()
	for i := range after { // JSON keeps the wall time, not the monotonic reading
		after[i].Time, before[i].Time = after[i].Time.UTC(), before[i].Time.Round(0).UTC()
	}
	if !reflect.DeepEqual(after, before) {
		t.Fatalf("incidents after restart:\n%+v\nbefore:\n%+v", after, before)
	}
	if b := restarted.Breaker("exchange"); !b.Open {
		t.Fatalf("breaker forgotten on restart: %+v", b)
	}
}

// A damaged incidents file is set aside: the node starts, without them.
func TestIncidentsFileDamaged(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "incidents.json")
	if err := os.WriteFile(file, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.New(dir, "custodian", nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Options{Party: "custodian", Parties: parties, Transport: memnet.New().Join("custodian"),
		Keys: ks, Pool: fixturePool(t, 0), Authorizer: AllowAll{}, IncidentsFile: file})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if len(n.Incidents()) != 0 {
		t.Fatalf("incidents from a damaged file: %+v", n.Incidents())
	}
}
