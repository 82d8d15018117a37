package drill

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/recovery"
	"github.com/triad-custody/triad/tss"
)

// ErrStopped is what a stopped twin node answers.
var ErrStopped = errors.New("drill: node stopped")

// Memory is the in-memory twin of a cluster: each modelled node has its
// own policy, identity and share views; one group key signs for any pair
// of running nodes; custody requests follow memory_custody.go. Its clock
// is fake: Watch moves it to the next notice deadline instead of waiting.
type Memory struct {
	mu      sync.Mutex
	clock   *custody.FakeClock
	keyID   string
	key     *btcec.PrivateKey
	nodes   map[string]*memNode
	reqs    map[string]*memRequest
	changed chan struct{} // closed and replaced on every change
}

type memNode struct {
	policy  custody.Policy
	ident   crypto.PrivKey
	up      bool
	inForce string // public view of the shares in force
	pending string // of a pending share (an undecided reshare)
	chain   []string
}

var _ Cluster = (*Memory)(nil)

// NewMemory is a twin of three nodes with these policies, holding key as
// keyID's group key, its clock at clock's time.
func NewMemory(keyID string, key *btcec.PrivateKey, policies map[string]custody.Policy, clock *custody.FakeClock) (*Memory, error) {
	m := &Memory{clock: clock, keyID: keyID, key: key, nodes: map[string]*memNode{}, reqs: map[string]*memRequest{}, changed: make(chan struct{})}
	for p, pol := range policies {
		id, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, err
		}
		m.nodes[p] = &memNode{policy: pol, ident: id, up: true, inForce: "view-1"}
	}
	return m, nil
}

// Stop stops party's node: every call to it fails with ErrStopped.
func (m *Memory) Stop(party string) { m.mu.Lock(); m.nodes[party].up = false; m.mu.Unlock() }

// LeaveUndecided gives party's node a pending share view, as a reshare
// whose commit did not finish there leaves it.
func (m *Memory) LeaveUndecided(party, inForce, pending string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodes[party].inForce, m.nodes[party].pending = inForce, pending
}

// Chain is the reports party's node recorded, as "drill/KIND/ID".
func (m *Memory) Chain(party string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.nodes[party].chain...)
}

// Parties implements Cluster.
func (m *Memory) Parties() []string {
	var out []string
	for _, p := range node.DefaultParties {
		if _, ok := m.nodes[p]; ok {
			out = append(out, p)
		}
	}
	return out
}

// Policy implements Cluster.
func (m *Memory) Policy(party string) (custody.Policy, bool) {
	n, ok := m.nodes[party]
	if !ok {
		return custody.Policy{}, false
	}
	return n.policy, true
}

// Reachable implements Cluster.
func (m *Memory) Reachable(party string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.node(party)
	return err
}

// node is party's running node; m.mu held.
func (m *Memory) node(party string) (*memNode, error) {
	n, ok := m.nodes[party]
	switch {
	case !ok:
		return nil, fmt.Errorf("no node for %s", party)
	case !n.up:
		return nil, fmt.Errorf("%s: %w", party, ErrStopped)
	}
	return n, nil
}

// CanarySign implements Cluster: the coordinator's policy decides; a
// partner that is down is replaced by the third node, as a node fails over.
func (m *Memory) CanarySign(_ context.Context, party string, req api.CanarySignRequest) (api.CanarySignResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(party)
	if err != nil {
		return api.CanarySignResponse{}, err
	}
	if err := custody.CheckRawDigest(n.policy, req.KeyID); err != nil || req.KeyID != m.keyID {
		return api.CanarySignResponse{}, fmt.Errorf("policy refused: %v", err)
	}
	d, err := custody.DrillDigest(req.Nonce)
	if err != nil {
		return api.CanarySignResponse{}, err
	}
	partner := ""
	for _, p := range append([]string{req.Partner}, node.DefaultParties...) {
		if _, err := m.node(p); p != "" && p != party && err == nil && partner == "" {
			partner = p
		}
	}
	if partner == "" {
		return api.CanarySignResponse{}, errors.New("no partner answered: signing aborted")
	}
	r, s := signHex(m.key, d)
	return api.CanarySignResponse{Digest: hex.EncodeToString(d[:]), R: r, S: s, Signers: []string{party, partner},
		PublicKey: hex.EncodeToString(m.key.PubKey().SerializeCompressed())}, nil
}

func signHex(k *btcec.PrivateKey, d [32]byte) (r, s string) {
	rb, sb := signRS(k, d)
	return tss.Hex32(rb), tss.Hex32(sb)
}

// signRS signs digest d with k (low-s, as tss-lib's signatures are).
func signRS(k *btcec.PrivateKey, d [32]byte) (r, s *big.Int) {
	sig, _ := btcecdsa.SignCompact(k, d[:], true) // [recovery | R | S]; fails only on a zero key
	if len(sig) != 65 {
		return new(big.Int), new(big.Int)
	}
	return new(big.Int).SetBytes(sig[1:33]), new(big.Int).SetBytes(sig[33:65])
}

// UnsealCheck implements Cluster.
func (m *Memory) UnsealCheck(_ context.Context, party string) (api.UnsealCheckResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(party)
	if err != nil {
		return api.UnsealCheckResponse{}, err
	}
	return api.UnsealCheckResponse{Party: party, HSM: "memory", Keys: []keystore.UnsealCheck{{KeyID: m.keyID, Party: party,
		PublicKey: hex.EncodeToString(m.key.PubKey().SerializeCompressed()), View: n.inForce, PendingView: n.pending}}}, nil
}

// Attest implements Cluster: the report lands on the node's chain, then
// the node signs it with its identity.
func (m *Memory) Attest(_ context.Context, party string, rep *recovery.Report) (recovery.Attestation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(party)
	if err != nil {
		return recovery.Attestation{}, err
	}
	n.chain = append(n.chain, "drill/"+rep.Drill+"/"+rep.ID)
	return recovery.SignWith(rep, party, n.ident)
}

// PeerIDs are the twin nodes' identities, as a verifier pins them.
func (m *Memory) PeerIDs() map[string]string {
	out := map[string]string{}
	for p, n := range m.nodes {
		id, _ := peer.IDFromPrivateKey(n.ident)
		out[p] = id.String()
	}
	return out
}

// Reshare implements Cluster: every node ends with new shares of the
// same key in force; the replaced party's node starts afresh.
func (m *Memory) Reshare(_ context.Context, party string, o reshare.Order, progress func(reshare.Event)) (*reshare.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.node(party); err != nil {
		return nil, err
	}
	if o.Spec.KeyID != m.keyID || o.Spec.PublicKey != hex.EncodeToString(m.key.PubKey().SerializeCompressed()) || len(o.Approvals) < 2 {
		return nil, errors.New("the reshare order does not match this cluster's key, or lacks two approvals")
	}
	m.nodes[o.Spec.Replace].up = true
	for _, step := range []string{"approvals verified", "reshare complete"} {
		progress(reshare.Event{Time: m.clock.Now(), ReshareID: o.Spec.ReshareID, Party: party, Step: step})
	}
	for _, n := range m.nodes {
		n.inForce, n.pending = "view-"+o.Spec.ReshareID, ""
	}
	return &reshare.Result{ReshareID: o.Spec.ReshareID, KeyID: m.keyID, PublicKey: o.Spec.PublicKey}, nil
}

// Resolve implements Cluster.
func (m *Memory) Resolve(_ context.Context, party string, r api.ResolveRequest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(party)
	switch {
	case err != nil:
		return err
	case r.KeyID != m.keyID || n.pending == "" || r.PendingView != n.pending:
		return errors.New("no such pending share here")
	case r.Action == recovery.Commit:
		n.inForce = n.pending
	case r.Action != recovery.Discard:
		return fmt.Errorf("action %q", r.Action)
	}
	n.pending = ""
	return nil
}
