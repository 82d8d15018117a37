package node

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/node/memnet"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// ../shared/SECURITY.md scenario 28: two reshares in a row in one cluster. Resharing's
// acknowledgements are empty, so byte-identical in both sessions; the
// session ID binds them, and the second reshare must not lose them to a
// payload filter (it used to time out blaming exchange#3 and regulator#3).
func TestTwoResharesInARow(t *testing.T) {
	if testing.Short() {
		t.Skip("resharing costs tens of CPU-seconds")
	}
	// Every new-committee member takes pre-params once per reshare: the
	// custodian twice; the replacements once each. Sets are distinct
	// within each session.
	net, nodes := memCluster(t, clusterOpts{withShares: true, preParams: map[string][]int{
		"custodian": {2, 0}, "exchange": {1}, "regulator": {},
	}})
	ops, pub := newOperators(t)
	ev := &events{}
	replace := func(party string, pp ...int) {
		nodes[party].Close()
		nodes[party] = freshNode(t, party, net.Join(party), pp...)
		for _, p := range parties {
			nodes[p].EnableRecovery(reshare.Options{Operators: pub, Observer: ev.add})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	replace("regulator", 4, 3)
	if _, err := nodes["custodian"].Reshare(ctx, ops.order(fixtureSpec(t, "in-a-row-1", "regulator", ""), "custodian", "exchange"), nil); err != nil {
		t.Fatalf("first reshare: %v", err)
	}
	replace("exchange", 1)
	if _, err := nodes["custodian"].Reshare(ctx, ops.order(fixtureSpec(t, "in-a-row-2", "exchange", ""), "custodian", "regulator"), nil); err != nil {
		t.Fatalf("second reshare: %v", err)
	}
	for _, p := range parties {
		s, err := nodes[p].keys.Load(ctx, fixtures.KeyID)
		if err != nil || s.Self.ID != p+"#3" {
			t.Fatalf("%s after two reshares: %v %v", p, s, err)
		}
	}
	signAllPairs(t, ctx, nodes, "after-two")
	for _, p := range parties {
		if c := nodes[p].Counters(); c["aborted_reshare"] != 0 {
			t.Fatalf("%s: %v", p, c)
		}
	}
}

// sniff collects frames of one kind sent from one party to another.
func sniff(net *memnet.Network, kind, from, to string) <-chan frame {
	ch := make(chan frame, 256)
	net.Intercept(func(f, t string, b []byte) [][]byte {
		if fr, err := decodeFrame(b); err == nil && fr.Kind == kind && f == from && t == to {
			select {
			case ch <- fr:
			default:
			}
		}
		return [][]byte{b}
	})
	return ch
}

func wait[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
		panic("unreachable")
	}
}

// ../shared/SECURITY.md scenario 29: a keygen that fails is retried at once, without a restart.
// First the coordinator itself lacks pre-params: it fails at once and
// proposes nothing. Then the regulator lacks them: it declines, the
// coordinator withdraws, and the exchange, which had joined, leaves the
// abandoned session at once (not at its 5-minute deadline). The retry has
// a fresh session ID and succeeds; a second keygen follows, and each key
// signs the same digest twice (../shared/SECURITY.md scenario 28 for keygen and signing).
func TestKeygenRetriedAfterFailure(t *testing.T) {
	custPool, fillCust := emptyPool(t, 0, 1, 2)
	regPool, fillReg := emptyPool(t, 2, 2)
	net, nodes := memCluster(t, clusterOpts{withShares: true, preParams: map[string][]int{"exchange": {3, 4, 3, 4}},
		pools: map[string]*tss.Pool{"custodian": custPool, "regulator": regPool}})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cust := nodes["custodian"]

	if _, err := cust.Keygen(ctx, "canary-1"); !errors.Is(err, ErrNoPreParams) {
		t.Fatalf("keygen without the coordinator's pre-params: %v", err)
	}
	for _, p := range []string{"exchange", "regulator"} {
		if c := nodes[p].Counters(); c["declined_keygen"] != 0 || c["withdrawn_keygen"] != 0 {
			t.Fatalf("%s heard of a keygen the coordinator could not run: %v", p, c)
		}
	}
	if ready, _ := nodes["exchange"].opt.Pool.Ready(); ready != 4 {
		t.Fatalf("the exchange spent pre-params on it: %d left", ready)
	}

	fillCust(ctx)
	saved := sniff(net, kindSaved, "exchange", "custodian")
	_, err := cust.Keygen(ctx, "canary-1")
	if !errors.Is(err, ErrDeclined) || !strings.Contains(err.Error(), "regulator") {
		t.Fatalf("keygen with the regulator lacking pre-params: %v", err)
	}
	left := wait(t, ctx, saved, "the exchange to leave the abandoned session")
	if !strings.Contains(left.Saved.Error, ErrWithdrawn.Error()) {
		t.Fatalf("the exchange ended the session with %q", left.Saved.Error)
	}
	net.Intercept(nil)

	// A proposal the custodian made and then lost track of (a crash: no
	// withdrawal): the exchange joins it; the custodian's next attempt
	// supersedes it there.
	lost := &Proposal{Protocol: tss.Keygen, KeyID: "canary-1", RequestID: "keygen/canary-1/0123456789abcdef0123456789abcdef",
		Participants: parties, Threshold: 1}
	lost.SessionID = lost.sessionIDFor()
	joinedLost := make(chan struct{}, 1)
	net.Intercept(func(from, to string, b []byte) [][]byte {
		if f, err := decodeFrame(b); err == nil && f.Kind == kindEnvelope && from == "exchange" && f.Envelope.Session == lost.SessionID {
			select {
			case joinedLost <- struct{}{}:
			default:
			}
		}
		return [][]byte{b}
	})
	if err := cust.send(ctx, "exchange", frame{Kind: kindPropose, Proposal: lost}); err != nil {
		t.Fatal(err)
	}
	wait(t, ctx, joinedLost, "the exchange to join the lost proposal")
	net.Intercept(nil)

	fillReg(ctx)
	var sids []string
	for _, inc := range cust.Incidents() {
		sids = append(sids, inc.SessionID)
	}
	// The second keygen is of a custody key: with two parties' operator
	// approvals (../shared/SECURITY.md scenario 31).
	ops, pub := newOperators(t)
	for _, p := range parties {
		nodes[p].EnableRecovery(reshare.Options{Operators: pub})
	}
	order := ops.keygenOrder(keygenSpec("vault-1"), "exchange", "regulator")
	for _, id := range []string{"canary-1", "vault-1"} {
		var share *tss.KeyShare
		var err error
		if id == "vault-1" {
			share, err = cust.KeygenCustody(ctx, order)
		} else {
			share, err = cust.Keygen(ctx, id)
		}
		if err != nil {
			t.Fatalf("keygen %s: %v", id, err)
		}
		pub, _ := share.PublicKey()
		for _, rid := range []string{"first", "second"} {
			res, err := nodes["exchange"].Sign(ctx, SignRequest{KeyID: id, RequestID: rid, Digest: sha256.Sum256([]byte("same digest"))})
			if err != nil {
				t.Fatalf("%s %s: %v", id, rid, err)
			}
			verifySig(t, pub, res.Signature)
		}
	}
	if len(sids) != 1 {
		t.Fatalf("incidents of the failed attempt: %v", sids)
	}
	if c := nodes["exchange"].Counters(); c["withdrawn_keygen"] != 2 {
		t.Fatalf("the exchange left %d abandoned keygen(s), want 2 (withdrawn, superseded): %v", c["withdrawn_keygen"], c)
	}
	for _, p := range parties {
		if !nodes[p].keys.Has("canary-1") || !nodes[p].keys.Has("vault-1") {
			t.Fatalf("%s lacks a key", p)
		}
	}
}

func keygenSpec(keyID string) KeygenSpec {
	return KeygenSpec{KeyID: keyID, Parties: parties, Threshold: 1, Expires: time.Now().Add(time.Hour)}
}

func (o operators) keygenOrder(spec KeygenSpec, approvers ...string) KeygenOrder {
	ord := KeygenOrder{Spec: spec}
	for _, p := range approvers {
		ord.Approvals = append(ord.Approvals, SignKeygenApproval(spec, p, "op-"+p, "keygen-nonce-"+p+"-0123456789", o[p]))
	}
	return ord
}

// ../shared/SECURITY.md scenario 31: a keygen proposal is judged by the receiver's own
// configuration: an unconfigured key ID, another threshold (a 3-of-3
// vault-1 would lock funds for good), other parties or a reused request ID
// are declined, and so is a custody key without two parties' operator
// approvals of a spec that matches the receiver's own configuration. The
// proposer cannot start any of these either, and nothing spends
// pre-params.
func TestKeygenProposalFromOwnConfig(t *testing.T) {
	net, nodes := memCluster(t, clusterOpts{})
	ops, pub := newOperators(t)
	for _, p := range parties {
		nodes[p].EnableRecovery(reshare.Options{Operators: pub})
	}
	declines := sniff(net, kindDecline, "custodian", "exchange")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const nonce = "/00112233445566778899aabbccddeeff"
	good := Proposal{Protocol: tss.Keygen, KeyID: "canary-1", RequestID: "keygen/canary-1" + nonce, Participants: parties, Threshold: 1}
	custody := func(o *KeygenOrder) func(p *Proposal) {
		return func(p *Proposal) {
			p.KeyID, p.RequestID, p.Payload = "vault-1", "keygen/vault-1"+nonce, nil
			if o != nil {
				p.Payload, _ = json.Marshal(o)
			}
		}
	}
	threeOfThree := keygenSpec("vault-1")
	threeOfThree.Threshold = 2
	oneParty := ops.keygenOrder(keygenSpec("vault-1"), "exchange")
	approvedBadSpec := ops.keygenOrder(threeOfThree, "exchange", "regulator")
	cases := map[string]func(p *Proposal){
		"not a key in": func(p *Proposal) {
			p.KeyID, p.RequestID = "vault-9", "keygen/vault-9"+nonce
		},
		"threshold 2 proposed":                  func(p *Proposal) { p.Threshold = 2 },
		"not this cluster's":                    func(p *Proposal) { p.Participants = []string{"custodian", "exchange", "mallory"} },
		"not keygen/<key id>":                   func(p *Proposal) { p.RequestID = "keygen/canary-1" },
		"needs two parties' operator approvals": custody(nil),
		"1 party(ies) approved, need 2":         custody(&oneParty),
		"is not custodian's keygen of vault-1":  custody(&approvedBadSpec),
	}
	for want, change := range cases {
		p := good
		change(&p)
		p.SessionID = p.sessionIDFor()
		if err := nodes["exchange"].send(ctx, "custodian", frame{Kind: kindPropose, Proposal: &p}); err != nil {
			t.Fatal(err)
		}
		d := wait(t, ctx, declines, want)
		if d.Decline.SessionID != p.SessionID || !strings.Contains(d.Decline.Reason, want) {
			t.Errorf("%s: declined with %q", want, d.Decline.Reason)
		}
	}
	if r, _ := nodes["custodian"].opt.Pool.Ready(); r != 1 {
		t.Fatalf("refused proposals spent pre-params: %d left", r)
	}
	for _, id := range []string{"vault-9", "bad/id"} {
		if _, err := nodes["exchange"].Keygen(ctx, id); !errors.Is(err, ErrKeygenRefused) {
			t.Fatalf("keygen of %q: %v", id, err)
		}
	}
	if _, err := nodes["exchange"].Keygen(ctx, "vault-1"); !errors.Is(err, ErrKeygenApproval) {
		t.Fatalf("keygen of a custody key without approvals: %v", err)
	}
	if _, err := nodes["exchange"].KeygenCustody(ctx, oneParty); !errors.Is(err, ErrKeygenApproval) {
		t.Fatalf("keygen of a custody key with one party's approval: %v", err)
	}
	if r, _ := nodes["exchange"].opt.Pool.Ready(); r != 1 {
		t.Fatalf("refused keygens spent pre-params: %d left", r)
	}
	// One keygen of a key at a time: while the custodian runs the
	// exchange's keygen of canary-1, the regulator's is declined as busy.
	p := good
	p.SessionID = p.sessionIDFor()
	started := sniff(net, kindEnvelope, "custodian", "exchange")
	if err := nodes["exchange"].send(ctx, "custodian", frame{Kind: kindPropose, Proposal: &p}); err != nil {
		t.Fatal(err)
	}
	wait(t, ctx, started, "the custodian to join the exchange's keygen")
	busy := sniff(net, kindDecline, "custodian", "regulator")
	q := good
	q.RequestID = "keygen/canary-1/ffeeddccbbaa99887766554433221100"
	q.SessionID = q.sessionIDFor()
	if err := nodes["regulator"].send(ctx, "custodian", frame{Kind: kindPropose, Proposal: &q}); err != nil {
		t.Fatal(err)
	}
	if d := wait(t, ctx, busy, "a busy decline"); !strings.Contains(d.Decline.Reason, "busy: a keygen of canary-1 proposed by exchange") {
		t.Fatalf("a second keygen of canary-1 declined with %q", d.Decline.Reason)
	}
}

// ../shared/SECURITY.md scenario 30: the exchange floods the custodian with signing proposals it
// never follows up. Past its quota they are declined as busy and the
// exchange is named in an incident; the regulator's proposal still finds
// a slot and the regulator signs with the custodian at the first attempt.
func TestProposalFloodQuota(t *testing.T) {
	net, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: time.Minute})
	declines := sniff(net, kindDecline, "custodian", "exchange")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cust := nodes["custodian"]
	const flood = 40
	for i := 0; i < flood; i++ {
		p := &Proposal{Protocol: tss.Sign, KeyID: fixtures.KeyID, RequestID: fmt.Sprintf("flood-%d", i),
			Participants: []string{"custodian", "exchange"}, Threshold: 1, Digest: make([]byte, 32)}
		p.SessionID = p.sessionIDFor()
		if err := nodes["exchange"].send(ctx, "custodian", frame{Kind: kindPropose, Proposal: p}); err != nil {
			t.Fatal(err)
		}
	}
	quota := cust.peerQuota()
	for i := 0; i < flood-quota; i++ {
		d := wait(t, ctx, declines, fmt.Sprint("a busy decline ", cust.Counters()))
		if !strings.HasPrefix(d.Decline.Reason, "busy: exchange") {
			t.Fatalf("flood declined with %q", d.Decline.Reason)
		}
	}
	named := false
	for _, inc := range cust.Incidents() {
		named = named || len(inc.Culprits) == 1 && inc.Culprits[0] == "exchange" && strings.Contains(inc.Error, "quota")
	}
	if !named {
		t.Fatalf("the flooder is not named: %+v", cust.Incidents())
	}
	res, err := nodes["regulator"].Sign(ctx, SignRequest{KeyID: fixtures.KeyID, RequestID: "honest", Digest: sha256.Sum256([]byte("honest")), Partner: "custodian"})
	if err != nil {
		t.Fatal(err)
	}
	verifySig(t, fixturePub(t), res.Signature)
	if len(res.Attempts) != 1 || !contains(res.Signers, "custodian") {
		t.Fatalf("the honest peer's proposal was crowded out: %+v", res.Attempts)
	}
	if c := cust.Counters(); c["proposal_busy"] != flood-quota {
		t.Fatalf("busy declines counted %d, want %d", c["proposal_busy"], flood-quota)
	}
}
