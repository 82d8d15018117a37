package node

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triad-custody/triad/tss"
)

// hostileProposer watches the custodian's frames: it records the session
// of its keygen proposal, and drops its keygen commits to the parties in
// withhold.
type hostileProposer struct {
	withhold map[string]bool
	mu       sync.Mutex
	sid      tss.SessionID
	dropped  int
}

func (h *hostileProposer) intercept(from, to string, b []byte) [][]byte {
	if from != "custodian" {
		return [][]byte{b}
	}
	f, err := decodeFrame(b)
	if err != nil {
		return [][]byte{b}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case f.Kind == kindPropose && f.Proposal.Protocol == tss.Keygen:
		h.sid = f.Proposal.SessionID
	case f.Kind == kindCommit && h.withhold[to]:
		h.dropped++
		return nil
	}
	return [][]byte{b}
}

func (h *hostileProposer) session() tss.SessionID {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sid
}

// ../shared/SECURITY.md scenario 29 (a proposer's withdrawal), against a hostile
// proposer. The custodian proposes a keygen that succeeds everywhere, then
// tells the exchange alone that it withdrew it: under protocol version 2
// the exchange dropped its share while the regulator kept its own (two
// honest parties disagreeing on whether the key exists). Under version 3
// the exchange has committed, refuses the withdrawal and records it. A
// second keygen in which the custodian withholds its commit from the
// exchange still ends with every party holding the key: the regulator
// relays the custodian's commit.
func TestKeygenWithdrawAfterCommitRefused(t *testing.T) {
	net, nodes := memCluster(t, clusterOpts{keygenTimeout: 3 * time.Minute,
		preParams: map[string][]int{"custodian": {0, 1}, "exchange": {1, 2}, "regulator": {2, 0}}})
	h := &hostileProposer{withhold: map[string]bool{}}
	net.Intercept(h.intercept)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if _, err := nodes["custodian"].Keygen(ctx, "canary-1"); err != nil {
		t.Fatal(err)
	}
	changed := nodes["exchange"].IncidentsChanged()
	if err := nodes["custodian"].send(ctx, "exchange", frame{Kind: kindWithdraw,
		Withdraw: &Withdraw{SessionID: h.session(), Reason: "hostile"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed: // the withdrawal was handled: refused (or, before, obeyed)
	case <-ctx.Done():
		t.Fatal("the exchange recorded nothing of the withdrawal")
	}
	inc := nodes["exchange"].Incidents()
	if !strings.Contains(inc[len(inc)-1].Error, "withdrawal refused") {
		t.Fatalf("the exchange obeyed a withdrawal after its commit: %s", inc[len(inc)-1].Error)
	}
	agree(t, ctx, nodes, "canary-1", true)

	h.mu.Lock()
	h.withhold["exchange"] = true
	h.mu.Unlock()
	if _, err := nodes["custodian"].Keygen(ctx, "canary-2"); err != nil {
		t.Fatal(err)
	}
	if h.dropped == 0 {
		t.Fatal("no commit of the custodian was withheld")
	}
	agree(t, ctx, nodes, "canary-2", true)
}

// agree checks that every party holds a share of keyID under one group
// key (want) or that none holds any (!want), pending or in force.
func agree(t *testing.T, ctx context.Context, nodes map[string]*testNode, keyID string, want bool) {
	t.Helper()
	var pub []byte
	for _, p := range parties {
		if nodes[p].keys.HasPending(keyID) {
			t.Fatalf("%s holds a pending share of %s", p, keyID)
		}
		if nodes[p].keys.Has(keyID) != want {
			t.Fatalf("%s: holds %s = %v, want %v", p, keyID, !want, want)
		}
		if !want {
			continue
		}
		s, err := nodes[p].keys.Load(ctx, keyID)
		if err != nil {
			t.Fatal(err)
		}
		pk, _ := s.PublicKey()
		if pub != nil && string(pk.SerializeCompressed()) != string(pub) {
			t.Fatalf("%s holds another key", p)
		}
		pub = pk.SerializeCompressed()
	}
}

// ../shared/SECURITY.md scenario 35 for keygen commits: a keygen with a peer of
// protocol version 2 cannot be committed; it is refused with an error
// naming the peer and the version, and no party keeps a share (the
// version-2 regulator saved its share at once and obeys the proposer's
// withdrawal). Signing with the version-2 peer is unaffected.
func TestKeygenRefusedWithVersion2Peer(t *testing.T) {
	_, nodes := memCluster(t, clusterOpts{withShares: true, keygenTimeout: 3 * time.Minute,
		versions:  map[string][2]int{"regulator": {1, 2}},
		preParams: map[string][]int{"custodian": {0, 1}, "exchange": {1, 2}, "regulator": {2, 0}}})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	_, err := nodes["custodian"].Keygen(ctx, "canary-1")
	if err == nil || !strings.Contains(err.Error(), "regulator speaks 2") || !strings.Contains(err.Error(), "protocol version 3") {
		t.Fatalf("keygen with a version-2 regulator: %v", err)
	}
	for {
		changed := nodes["regulator"].IncidentsChanged()
		if !nodes["regulator"].keys.Has("canary-1") {
			break
		}
		select { // the withdrawal removes the regulator's share
		case <-changed:
		case <-ctx.Done():
			t.Fatal("the version-2 regulator kept its share")
		}
	}
	agree(t, ctx, nodes, "canary-1", false)
	req := signReq("after a refused keygen")
	req.Partner = "regulator"
	res, err := nodes["custodian"].Sign(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	verifySig(t, fixturePub(t), res.Signature)
}
