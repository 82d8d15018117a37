package node

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/memnet"
	"github.com/triad-custody/triad/node/nodetest"
	"github.com/triad-custody/triad/node/p2p"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

var parties = fixtures.Parties

// testKeys are the keys of every test node's configuration: keygen runs
// for these only.
var testKeys = []custody.KeyConfig{{ID: "canary-1", Role: custody.RoleCanary}, {ID: "canary-2", Role: custody.RoleCanary},
	{ID: "vault-1", Role: custody.RoleCustody}}

// fixedPPStore serves one fixture pre-params set to a pool.
type fixedPPStore struct {
	mu   sync.Mutex
	blob []byte
}

func (s *fixedPPStore) LoadPreParams(context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blob, nil
}

func (s *fixedPPStore) SavePreParams(_ context.Context, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blob = append([]byte(nil), b...)
	return nil
}

// fixturePool is a pool holding fixture pre-params sets idx (Take hands
// out the last first).
func fixturePool(t testing.TB, idx ...int) *tss.Pool {
	t.Helper()
	list, err := fixtures.PreParamsList(idx...)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := tss.NewPool(context.Background(), tss.PoolConfig{Target: 1, Concurrency: 1, Store: &fixedPPStore{blob: list},
		Generate: func(context.Context) (*keygen.LocalPreParams, error) {
			return nil, fmt.Errorf("tests use fixture pre-params")
		}})
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// emptyPool is a pool with no pre-params; fill hands it fixture sets idx
// (through its generator, in order) and returns once they are ready.
func emptyPool(t testing.TB, idx ...int) (pool *tss.Pool, fill func(ctx context.Context)) {
	t.Helper()
	var mu sync.Mutex
	next := 0
	ready := make(chan struct{}, 1)
	pool, err := tss.NewPool(context.Background(), tss.PoolConfig{Target: len(idx), Concurrency: 1, Store: &fixedPPStore{},
		Generate: func(context.Context) (*keygen.LocalPreParams, error) {
			mu.Lock()
			defer mu.Unlock()
			if next == len(idx) { // a refill after Take
				return nil, fmt.Errorf("tests use fixture pre-params: all %d handed out", len(idx))
			}
			b, err := fixtures.PreParams(idx[next])
			next++
			if err != nil {
				return nil, err
			}
			pp := new(keygen.LocalPreParams)
			return pp, json.Unmarshal(b, pp)
		},
		Progress: func(r, target, _ int) {
			if r == target {
				select {
				case ready <- struct{}{}:
				default:
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return pool, func(ctx context.Context) {
		pool.Fill(ctx)
		select {
		case <-ready:
		case <-ctx.Done():
			t.Fatalf("pre-params not ready: %v", ctx.Err())
		}
	}
}

type testNode struct {
	*Node
	sealer *hsm.Memory
	keys   *keystore.Store
}

type clusterOpts struct {
	signTimeout time.Duration
	// keygenTimeout is a DKG's deadline (default 5 minutes).
	keygenTimeout time.Duration
	withShares    bool
	authorizer    func(party string) Authorizer
	// preParams, when set, are each party's fixture pre-params sets
	// (default: set i for the i-th party).
	preParams map[string][]int
	// pools, when set for a party, replace its fixture pool.
	pools map[string]*tss.Pool
	// incidents, when set, holds each party's incidents file.
	incidents map[string]string
	now       func() time.Time
	// versions, when set for a party, is its protocol version range
	// (Options.ProtocolMin, ProtocolMax).
	versions map[string][2]int
}

// newCluster starts three nodes on the given transports, each with its own
// sealed key store holding its fixture share (when withShares).
func newCluster(t testing.TB, transports map[string]p2p.Transport, o clusterOpts) map[string]*testNode {
	t.Helper()
	if o.signTimeout == 0 {
		o.signTimeout = 20 * time.Second
	}
	if o.keygenTimeout == 0 {
		o.keygenTimeout = 5 * time.Minute
	}
	out := map[string]*testNode{}
	for i, p := range parties {
		sealer := hsm.NewMemory()
		ks, err := keystore.New(t.TempDir(), p, sealer)
		if err != nil {
			t.Fatal(err)
		}
		if o.withShares {
			if err := ks.Save(context.Background(), nodetest.Share(t, p)); err != nil {
				t.Fatal(err)
			}
		}
		var auth Authorizer = AllowAll{}
		if o.authorizer != nil {
			auth = o.authorizer(p)
		}
		pp := []int{i}
		if o.preParams != nil {
			pp = o.preParams[p]
		}
		pool := o.pools[p]
		if pool == nil {
			pool = fixturePool(t, pp...)
		}
		n, err := New(Options{Party: p, Parties: parties, Transport: transports[p], Keys: ks, Pool: pool,
			Sealer: sealer, Authorizer: auth, KeygenRule: custody.Policy{Keys: testKeys}.KeygenRule, SignTimeout: o.signTimeout, KeygenTimeout: o.keygenTimeout,
			IncidentsFile: o.incidents[p], Now: o.now, ProtocolMin: o.versions[p][0], ProtocolMax: o.versions[p][1]})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		out[p] = &testNode{Node: n, sealer: sealer, keys: ks}
	}
	return out
}

func memCluster(t testing.TB, o clusterOpts) (*memnet.Network, map[string]*testNode) {
	net := memnet.New()
	ts := map[string]p2p.Transport{}
	for _, p := range parties {
		ts[p] = net.Join(p)
	}
	return net, newCluster(t, ts, o)
}

func verifySig(t testing.TB, pub *btcec.PublicKey, sig *tss.Signature) {
	t.Helper()
	var r, s btcec.ModNScalar
	r.SetByteSlice(sig.R.Bytes())
	s.SetByteSlice(sig.S.Bytes())
	if !btcecdsa.NewSignature(&r, &s).Verify(sig.Digest[:], pub) {
		t.Fatal("signature does not verify with btcec")
	}
}

func fixturePub(t testing.TB) *btcec.PublicKey {
	pub, err := nodetest.Share(t, "custodian").PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}
