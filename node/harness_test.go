package node

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

var parties = fixtures.Parties

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

func fixturePool(t testing.TB, i int) *tss.Pool {
	t.Helper()
	list, err := fixtures.PreParamsList(i)
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

type testNode struct {
	*Node
	sealer *hsm.Memory
	keys   *KeyStore
}

type clusterOpts struct {
	signTimeout time.Duration
	withShares  bool
	authorizer  func(party string) Authorizer
}

// newCluster starts three nodes on the given transports, each with its own
// sealed key store holding its fixture share (when withShares).
func newCluster(t testing.TB, transports map[string]Transport, o clusterOpts) map[string]*testNode {
	t.Helper()
	if o.signTimeout == 0 {
		o.signTimeout = 20 * time.Second
	}
	out := map[string]*testNode{}
	for i, p := range parties {
		sealer := hsm.NewMemory()
		ks, err := NewKeyStore(t.TempDir(), p, sealer)
		if err != nil {
			t.Fatal(err)
		}
		if o.withShares {
			if err := ks.Save(context.Background(), fixtureShare(t, p)); err != nil {
				t.Fatal(err)
			}
		}
		var auth Authorizer = AllowAll{}
		if o.authorizer != nil {
			auth = o.authorizer(p)
		}
		n, err := New(Options{Party: p, Parties: parties, Transport: transports[p], Keys: ks, Pool: fixturePool(t, i),
			Sealer: sealer, Authorizer: auth, SignTimeout: o.signTimeout, KeygenTimeout: 5 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		out[p] = &testNode{Node: n, sealer: sealer, keys: ks}
	}
	return out
}

func memCluster(t testing.TB, o clusterOpts) (*MemNetwork, map[string]*testNode) {
	net := NewMemNetwork()
	ts := map[string]Transport{}
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

func fixtureShare(t testing.TB, party string) *tss.KeyShare {
	t.Helper()
	b, err := fixtures.Share(party)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tss.UnmarshalShare(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fixturePub(t testing.TB) *btcec.PublicKey {
	pub, err := fixtureShare(t, "custodian").PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}
