package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/triad-custody/triad/node/p2p"
	"github.com/triad-custody/triad/node/p2p/p2ptest"
)

func libp2pCluster(t testing.TB, o clusterOpts) (map[string]*p2p.Host, map[string]*testNode) {
	hosts := p2ptest.NewHosts(t, parties...)
	ts := map[string]p2p.Transport{}
	for p, h := range hosts {
		ts[p] = h
	}
	return hosts, newCluster(t, ts, o)
}

// Three real libp2p hosts on loopback: a DKG, then a signature from every
// pair, each verified with btcec; then one host killed and the other two
// still sign; then two killed and a clean error within the deadline.
func TestLibp2pKeygenSignFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a DKG")
	}
	hosts, nodes := libp2pCluster(t, clusterOpts{signTimeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	share, err := nodes["exchange"].Keygen(ctx, "canary-1")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := share.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	// Keygen returned only once every node confirmed its sealed share.
	for _, p := range parties {
		s, err := nodes[p].keys.Load(ctx, "canary-1")
		if err != nil {
			t.Fatal(err)
		}
		if pk, _ := s.PublicKey(); !pk.IsEqual(pub) {
			t.Fatalf("%s holds a different group key", p)
		}
	}
	// A second keygen of the same key ID is refused everywhere.
	if _, err := nodes["custodian"].Keygen(ctx, "canary-1"); err == nil {
		t.Fatal("keygen overwrote an existing key")
	}
	pairs := map[string]string{"custodian": "exchange", "exchange": "regulator", "regulator": "custodian"}
	for coord, partner := range pairs {
		req := SignRequest{KeyID: "canary-1", RequestID: "pair-" + coord, Digest: sha256.Sum256([]byte(coord + partner))}
		res, err := nodes[coord].Sign(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", coord, err)
		}
		verifySig(t, pub, res.Signature)
	}
	hosts["custodian"].Close()
	res, err := nodes["exchange"].Sign(ctx, SignRequest{KeyID: "canary-1", RequestID: "one down", Digest: sha256.Sum256([]byte("x"))})
	if err != nil {
		t.Fatalf("one node down: %v", err)
	}
	verifySig(t, pub, res.Signature)
	if !contains(res.Signers, "regulator") {
		t.Fatalf("signed by %v with the custodian down", res.Signers)
	}
	hosts["regulator"].Close()
	start := time.Now()
	_, err = nodes["exchange"].Sign(ctx, SignRequest{KeyID: "canary-1", RequestID: "two down", Digest: sha256.Sum256([]byte("y"))})
	if !errors.Is(err, ErrNoSigners) {
		t.Fatalf("two down: %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("two down took %v, deadline is 10s", el)
	}
}
