package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/memnet"
	"github.com/triad-custody/triad/node/p2p"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// operators is one test operator key per party.
type operators map[string]ed25519.PrivateKey

func newOperators(t testing.TB) (operators, func(party, name string) (ed25519.PublicKey, bool)) {
	ops := operators{}
	pub := map[custody.Party][]custody.OperatorKey{}
	for _, p := range parties {
		pk, sk, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		ops[p] = sk
		pub[custody.Party(p)] = []custody.OperatorKey{{Name: "op-" + p, PublicKey: hex.EncodeToString(pk)}}
	}
	return ops, custody.Policy{Operators: pub}.OperatorPublicKey
}

func (o operators) order(spec reshare.Spec, approvers ...string) reshare.Order {
	ord := reshare.Order{Spec: spec}
	for _, p := range approvers {
		nonce := fmt.Sprintf("nonce-%s-%s-0123456789", p, spec.ReshareID)
		ord.Approvals = append(ord.Approvals, reshare.SignApproval(spec, p, "op-"+p, nonce, o[p]))
	}
	return ord
}

// events collects reshare steps from every node.
type events struct {
	mu sync.Mutex
	ev []reshare.Event
}

func (e *events) add(ev reshare.Event) {
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	e.mu.Unlock()
}

func (e *events) steps(party string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.ev {
		if ev.Party == party {
			out = append(out, ev.Step)
		}
	}
	return out
}

// freshNode starts a replacement for party on transport t: empty data dir,
// new sealer, its own pre-params (fixture set pp).
func freshNode(t testing.TB, party string, tr p2p.Transport, pp ...int) *testNode {
	t.Helper()
	sealer := hsm.NewMemory()
	ks, err := keystore.New(t.TempDir(), party, sealer)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Options{Party: party, Parties: parties, Transport: tr, Keys: ks, Pool: fixturePool(t, pp...),
		Sealer: sealer, Authorizer: AllowAll{}, KeygenRule: custody.Policy{Keys: testKeys}.KeygenRule, SignTimeout: roundsSignTimeout, KeygenTimeout: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return &testNode{Node: n, sealer: sealer, keys: ks}
}

// fixtureSpec asks to replace party on the fixture key.
func fixtureSpec(t testing.TB, id, replace, newPeer string) reshare.Spec {
	return reshare.Spec{ReshareID: id, KeyID: fixtures.KeyID, Replace: replace, NewPeerID: newPeer,
		PublicKey: hex.EncodeToString(fixturePub(t).SerializeCompressed()), Expires: time.Now().Add(time.Hour)}
}

// replaceOnMem wipes the regulator (a new node, new data dir, new sealer)
// and gives every node recovery with the same operators.
func replaceOnMem(t testing.TB) (*memnet.Network, map[string]*testNode, operators, *events) {
	net, nodes := memCluster(t, clusterOpts{withShares: true})
	ops, pub := newOperators(t)
	nodes["regulator"].Close()
	nodes["regulator"] = freshNode(t, "regulator", net.Join("regulator"), 3)
	ev := &events{}
	for _, p := range parties {
		nodes[p].EnableRecovery(reshare.Options{Operators: pub, Observer: ev.add})
	}
	return net, nodes, ops, ev
}

func signAllPairs(t testing.TB, ctx context.Context, nodes map[string]*testNode, tag string) {
	t.Helper()
	pub := fixturePub(t)
	for coord, partner := range map[string]string{"custodian": "exchange", "exchange": "regulator", "regulator": "custodian"} {
		req := SignRequest{KeyID: fixtures.KeyID, RequestID: tag + "-" + coord, Digest: sha256.Sum256([]byte(tag + coord)), Partner: partner}
		res, err := nodes[coord].Sign(ctx, req)
		if err != nil {
			t.Fatalf("%s+%s: %v", coord, partner, err)
		}
		verifySig(t, pub, res.Signature)
	}
}

// TestReshareReplacesWipedNode: the regulator's data dir is lost; its
// replacement starts empty; the survivors reshare to it with two
// operators' approval; every pair signs under the same key; the survivors'
// old shares are gone and the lost node's old share is not a share of the
// new sharing.
func TestReshareReplacesWipedNode(t *testing.T) {
	if testing.Short() {
		t.Skip("resharing costs tens of CPU-seconds")
	}
	_, nodes, ops, ev := replaceOnMem(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	order := ops.order(fixtureSpec(t, "replace-regulator-1", "regulator", ""), "custodian", "exchange")
	start := time.Now()
	res, err := nodes["custodian"].Reshare(ctx, order, func(e reshare.Event) { t.Logf("%s: %s %s", e.Party, e.Step, e.Detail) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reshare on MemNetwork: %v", time.Since(start))
	for _, p := range parties {
		s, err := nodes[p].keys.Load(ctx, fixtures.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		if s.Self.ID != p+"#2" || nodes[p].keys.HasPending(fixtures.KeyID) {
			t.Fatalf("%s holds %s (pending %v)", p, s.Self.ID, nodes[p].keys.HasPending(fixtures.KeyID))
		}
		if pk, _ := s.PublicKey(); !pk.IsEqual(fixturePub(t)) {
			t.Fatalf("%s: group key changed", p)
		}
		if steps := ev.steps(p); steps[len(steps)-1] != "committed" && !contains(steps, "committed") {
			t.Fatalf("%s never committed: %v", p, steps)
		}
	}
	// The survivors' old shares are destroyed: a fresh key store on the
	// same directory and sealer unseals only the new share.
	for _, p := range []string{"custodian", "exchange"} {
		ks, _ := keystore.New(nodes[p].keys.Dir(), p, nodes[p].sealer)
		s, err := ks.Load(ctx, fixtures.KeyID)
		if err != nil || s.Self.ID != p+"#2" {
			t.Fatalf("%s on disk: %v %v", p, s, err)
		}
	}
	signAllPairs(t, ctx, nodes, "after")
	// The lost node's old share is no share of the new sharing: its
	// public point is none of the new committee's.
	b, _ := fixtures.Share("regulator")
	old, _ := tss.UnmarshalShare(b)
	oldPoint := crypto.ScalarBaseMult(tsslib.S256(), old.Data.Xi)
	cur, _ := nodes["custodian"].keys.Load(ctx, fixtures.KeyID)
	for _, x := range cur.Data.BigXj {
		if x.Equals(oldPoint) {
			t.Fatal("the lost node's old share is still a share of the key")
		}
	}
	// A replayed order is refused (nonces are single use).
	if _, err := nodes["custodian"].Reshare(ctx, order, nil); err == nil {
		t.Fatal("a replayed reshare order ran")
	}
	t.Logf("coordinator steps: %v", strings.Join(ev.steps("custodian"), " → "))
	_ = res
}

// TestReshareEquivocatedConfirmation: the exchange's confirmation reaches
// the regulator altered. Every node sees the disagreement, discards its
// pending share and keeps the old one: the old committee still signs.
func TestReshareEquivocatedConfirmation(t *testing.T) {
	if testing.Short() {
		t.Skip("resharing costs tens of CPU-seconds")
	}
	net, nodes, ops, _ := replaceOnMem(t)
	net.Intercept(func(from, to string, b []byte) [][]byte {
		f, err := decodeFrame(b)
		if err != nil || f.Kind != kindApp || f.App.Topic != reshare.TopicConfirm || from != "exchange" || to != "regulator" {
			return [][]byte{b}
		}
		var m reshare.Confirm
		json.Unmarshal(f.App.Payload, &m)
		m.View = strings.Repeat("0", 64)
		f.App.Payload, _ = json.Marshal(m)
		out, _ := encodeFrame(f)
		return [][]byte{out}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := nodes["custodian"].Reshare(ctx, ops.order(fixtureSpec(t, "equivocate-1", "regulator", ""), "exchange", "regulator"), nil)
	if !errors.Is(err, reshare.ErrAborted) && !strings.Contains(fmt.Sprint(err), "did not commit") {
		t.Fatalf("reshare with an equivocated confirmation: %v", err)
	}
	net.Intercept(nil)
	for _, p := range parties {
		if nodes[p].keys.HasPending(fixtures.KeyID) {
			t.Fatalf("%s kept a pending share", p)
		}
	}
	for _, p := range []string{"custodian", "exchange"} {
		s, err := nodes[p].keys.Load(ctx, fixtures.KeyID)
		if err != nil || s.Self.ID != p {
			t.Fatalf("%s: old share not in force: %v %v", p, s, err)
		}
	}
	res, err := nodes["custodian"].Sign(ctx, SignRequest{KeyID: fixtures.KeyID, RequestID: "old-still-signs",
		Digest: sha256.Sum256([]byte("old")), Partner: "exchange"})
	if err != nil {
		t.Fatalf("old committee after an aborted reshare: %v", err)
	}
	verifySig(t, fixturePub(t), res.Signature)
}

// TestLibp2pReshareReplacesNode: three libp2p hosts on loopback; the
// regulator's host and data are lost; a replacement with a NEW identity
// starts empty; the survivors re-pin it (from the approved spec) and
// reshare; every pair signs under the same key. The test logs the time to
// replace a party (pre-params ready).
func TestLibp2pReshareReplacesNode(t *testing.T) {
	if testing.Short() {
		t.Skip("resharing costs tens of CPU-seconds")
	}
	hosts, nodes := libp2pCluster(t, clusterOpts{withShares: true})
	ops, pub := newOperators(t)
	// Lose the regulator entirely: host, node, data.
	nodes["regulator"].Close()
	hosts["regulator"].Close()
	key, _, err := libp2pcrypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	newID, _ := peer.IDFromPrivateKey(key)
	var survivors []p2p.Peer
	for _, p := range []string{"custodian", "exchange"} {
		survivors = append(survivors, p2p.Peer{Party: p, ID: hosts[p].ID(), Addrs: hosts[p].Libp2p().Addrs()})
	}
	h, err := p2p.NewHost(p2p.HostConfig{Party: "regulator", Identity: key, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}, Peers: survivors})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	nodes["regulator"] = freshNode(t, "regulator", h, 3)
	ev := &events{}
	for _, p := range parties {
		o := reshare.Options{Operators: pub, Observer: ev.add}
		if p != "regulator" {
			host := hosts[p]
			o.Pin = func(party, id string, persist bool) error {
				pid, err := peer.Decode(id)
				if err != nil {
					return err
				}
				return host.Repin(party, pid, h.Libp2p().Addrs())
			}
		}
		nodes[p].EnableRecovery(o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	order := ops.order(fixtureSpec(t, "libp2p-replace-1", "regulator", newID.String()), "custodian", "regulator")
	res, err := nodes["exchange"].Reshare(ctx, order, func(e reshare.Event) { t.Logf("%s: %s %s", e.Party, e.Step, e.Detail) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TIME TO REPLACE A PARTY (libp2p loopback, pre-params ready): %v (coordinator measured %v)", time.Since(start), res.Duration)
	signAllPairs(t, ctx, nodes, "libp2p-after")
	for _, p := range parties {
		if s, _ := nodes[p].keys.Load(ctx, fixtures.KeyID); s.Self.ID != p+"#2" {
			t.Fatalf("%s holds %s", p, s.Self.ID)
		}
	}
}
