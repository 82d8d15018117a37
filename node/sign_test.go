package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/tss/fixtures"
)

func signReq(label string) SignRequest {
	return SignRequest{KeyID: fixtures.KeyID, RequestID: label, Digest: sha256.Sum256([]byte(label))}
}

func TestSignFromEveryNode(t *testing.T) {
	_, nodes := memCluster(t, clusterOpts{withShares: true})
	pub := fixturePub(t)
	for _, p := range parties {
		res, err := nodes[p].Sign(context.Background(), signReq("from "+p))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		verifySig(t, pub, res.Signature)
		if len(res.Attempts) != 1 || !contains(res.Signers, p) {
			t.Fatalf("%s: attempts %+v signers %v", p, res.Attempts, res.Signers)
		}
	}
}

// A partner that looks connected but never answers: the attempt aborts at
// its deadline blaming it, and the other pair signs with a fresh session.
func TestFailoverFromSilentPartner(t *testing.T) {
	net, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: 15 * time.Second})
	net.Intercept(func(from, to string, f []byte) [][]byte {
		if from == "exchange" || to == "exchange" {
			return nil // paused: frames vanish
		}
		return [][]byte{f}
	})
	res, err := nodes["custodian"].Sign(context.Background(), signReq("silent"))
	if err != nil {
		t.Fatal(err)
	}
	verifySig(t, fixturePub(t), res.Signature)
	if len(res.Attempts) != 2 {
		t.Fatalf("attempts: %+v", res.Attempts)
	}
	first := res.Attempts[0]
	if !contains(first.Signers, "exchange") || len(first.Culprits) != 1 || first.Culprits[0] != "exchange" {
		t.Fatalf("first attempt should blame exchange: %+v", first)
	}
	if res.Attempts[0].SessionID == res.Attempts[1].SessionID {
		t.Fatal("retry reused the session ID")
	}
	if got := res.Signers; got[0] != "custodian" || got[1] != "regulator" {
		t.Fatalf("signed by %v", got)
	}
}

// An isolated (killed) partner is skipped without waiting; with both
// partners gone the caller gets a clear error well within the deadline.
func TestNodeDownAndTwoDown(t *testing.T) {
	net, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: 5 * time.Second})
	net.Isolate("exchange", true)
	res, err := nodes["regulator"].Sign(context.Background(), signReq("one down"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 1 || res.Signers[0] != "custodian" {
		t.Fatalf("one down: %+v", res)
	}
	net.Isolate("custodian", true)
	start := time.Now()
	_, err = nodes["regulator"].Sign(context.Background(), signReq("two down"))
	if !errors.Is(err, ErrNoSigners) {
		t.Fatalf("two down: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("two down took %v", el)
	}
}

// ../shared/SECURITY.md scenario 13: with both partners paused (connected, frames vanish), the
// caller gets its error within one sign_timeout plus a small margin, not
// one timeout per attempt; both attempts are made and blame the partner.
func TestBothPartnersPausedOneTimeout(t *testing.T) {
	const timeout = 3 * time.Second
	net, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: timeout})
	net.Intercept(func(string, string, []byte) [][]byte { return nil }) // both partners paused
	start := time.Now()
	res, err := nodes["custodian"].Sign(context.Background(), signReq("both paused"))
	el := time.Since(start)
	if !errors.Is(err, ErrNoSigners) {
		t.Fatalf("both paused: %v", err)
	}
	if el > timeout+time.Second {
		t.Fatalf("both paused took %v against a %v sign_timeout", el, timeout)
	}
	if len(res.Attempts) != 2 {
		t.Fatalf("attempts: %+v", res.Attempts)
	}
	for _, a := range res.Attempts {
		if len(a.Culprits) != 1 || a.Culprits[0] == "custodian" {
			t.Fatalf("attempt should blame the paused partner: %+v", a)
		}
	}
}

type refuseDigest struct{ bad [32]byte }

func (r refuseDigest) AuthorizeSign(_ context.Context, _ string, p *Proposal) error {
	if string(p.Digest) == string(r.bad[:]) {
		return errors.New("not on my watch")
	}
	return nil
}

// A partner whose own policy refuses declines; the coordinator's other
// partner may still agree, and a coordinator never signs what its own
// policy refuses.
func TestDeclineByPolicy(t *testing.T) {
	req := signReq("refused by exchange")
	_, nodes := memCluster(t, clusterOpts{withShares: true, authorizer: func(p string) Authorizer {
		if p == "exchange" || p == "regulator" {
			return refuseDigest{bad: req.Digest}
		}
		return AllowAll{}
	}})
	_, err := nodes["custodian"].Sign(context.Background(), req)
	if !errors.Is(err, ErrNoSigners) {
		t.Fatalf("want refusal by both partners, got %v", err)
	}
	if nodes["exchange"].Counters()["declined_sign"] != 1 || nodes["regulator"].Counters()["declined_sign"] != 1 {
		t.Fatalf("declines not counted: %v %v", nodes["exchange"].Counters(), nodes["regulator"].Counters())
	}
	if _, err := nodes["exchange"].Sign(context.Background(), req); err == nil {
		t.Fatal("coordinator signed against its own policy")
	}
}

// ../shared/SECURITY.md scenario 2 at the node level: envelopes recorded in one session and
// replayed later are dropped by the router and counted.
func TestReplayedSessionDropped(t *testing.T) {
	net, nodes := memCluster(t, clusterOpts{withShares: true})
	var recorded [][]byte
	net.Intercept(func(from, to string, f []byte) [][]byte {
		if from == "exchange" && to == "custodian" {
			recorded = append(recorded, f)
		}
		return [][]byte{f}
	})
	if _, err := nodes["custodian"].Sign(context.Background(), signReq("original")); err != nil {
		t.Fatal(err)
	}
	net.Intercept(nil)
	for _, f := range recorded {
		nodes["custodian"].handle("exchange", f)
	}
	c := nodes["custodian"].Counters()
	if c["replay_ended_session"] == 0 {
		t.Fatalf("replays not counted: %v", c)
	}
}

// ../shared/SECURITY.md scenario 14: duplication and delay; signing completes, duplicates are
// dropped and counted.
func TestDuplicatesAndDelay(t *testing.T) {
	net, nodes := memCluster(t, clusterOpts{withShares: true})
	net.Delay(2 * time.Millisecond)
	net.Intercept(func(_, _ string, f []byte) [][]byte { return [][]byte{f, f} })
	res, err := nodes["exchange"].Sign(context.Background(), signReq("dups"))
	if err != nil {
		t.Fatal(err)
	}
	verifySig(t, fixturePub(t), res.Signature)
	if nodes["exchange"].Counters()["duplicate_envelope"] == 0 {
		t.Fatalf("duplicates not counted: %v", nodes["exchange"].Counters())
	}
}

// Fail closed: a node whose HSM is unavailable refuses to sign.
func TestHSMUnavailableRefuses(t *testing.T) {
	_, nodes := memCluster(t, clusterOpts{withShares: true})
	nodes["custodian"].sealer.SetUnavailable(true)
	if _, err := nodes["custodian"].Sign(context.Background(), signReq("hsm down")); err == nil {
		t.Fatal("signed with the HSM down")
	}
	nodes["custodian"].sealer.SetUnavailable(false)
	if _, err := nodes["custodian"].Sign(context.Background(), signReq("hsm back")); err != nil {
		t.Fatalf("HSM back: %v", err)
	}
}

// A BIP32 child of the group key: every signer derives the tweak itself
// and the signature verifies under the child key.
func TestSignChildKey(t *testing.T) {
	_, nodes := memCluster(t, clusterOpts{withShares: true})
	req := signReq("child")
	req.ChildPath = "m/0/7"
	res, err := nodes["custodian"].Sign(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	pub := fixturePub(t)
	child, _, err := btc.DeriveChild(pub, btc.ChainCode(pub), []uint32{0, 7})
	if err != nil {
		t.Fatal(err)
	}
	verifySig(t, child, res.Signature)
	req = signReq("hardened")
	req.ChildPath = "m/0'"
	if _, err := nodes["custodian"].Sign(context.Background(), req); err == nil {
		t.Fatal("signed with a hardened path")
	}
}

// Many sessions at once over the same peers: each envelope reaches its own
// session and every signature verifies.
func TestConcurrentSessions(t *testing.T) {
	_, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: time.Minute})
	pub := fixturePub(t)
	type result struct {
		res *SignResult
		err error
	}
	results := make(chan result, 6)
	for i := 0; i < 2; i++ {
		for _, p := range parties {
			go func() {
				res, err := nodes[p].Sign(context.Background(), signReq(fmt.Sprintf("concurrent %s %d", p, i)))
				results <- result{res, err}
			}()
		}
	}
	for range 6 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		verifySig(t, pub, r.res.Signature)
	}
}

// ../shared/SECURITY.md scenarios 12 and 13: the exchange is cut off mid-signing. The attempt
// aborts at its deadline and the other pair signs; when the link heals,
// the held-back envelopes arrive late and are dropped as belonging to an
// ended session: no stale session resumes, and the exchange signs nothing
// alone.
func TestCutOffMidSigningThenHealed(t *testing.T) {
	net, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: 15 * time.Second})
	var mu sync.Mutex
	var held [][]byte
	seen := 0
	net.Intercept(func(from, to string, f []byte) [][]byte {
		if from != "exchange" {
			return [][]byte{f}
		}
		mu.Lock()
		defer mu.Unlock()
		if seen++; seen <= 2 {
			return [][]byte{f} // round 1 gets through, then the link is cut
		}
		held = append(held, f)
		return nil
	})
	res, err := nodes["custodian"].Sign(context.Background(), SignRequest{KeyID: fixtures.KeyID, RequestID: "cut",
		Digest: sha256.Sum256([]byte("cut")), Partner: "exchange"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 2 || res.Signers[1] != "regulator" {
		t.Fatalf("attempts %+v", res.Attempts)
	}
	net.Intercept(nil)
	mu.Lock()
	late := held
	mu.Unlock()
	if len(late) == 0 {
		t.Fatal("nothing was held back")
	}
	before := nodes["custodian"].Counters()["replay_ended_session"]
	for _, f := range late {
		nodes["custodian"].handle("exchange", f)
	}
	if got := nodes["custodian"].Counters()["replay_ended_session"] - before; got != len(late) {
		t.Fatalf("%d of %d late envelopes dropped as stale", got, len(late))
	}
}

// A quorum only one partner can meet (a liquidation batch's custodian and
// exchange): with Only, a silent partner keeps the whole sign_timeout
// (../shared/SECURITY.md scenario 13: one deadline) and no other pair is tried; the caller gets
// its error with that one attempt, blaming the partner.
func TestSignOnlyPartnerNoFailover(t *testing.T) {
	const timeout = 3 * time.Second
	net, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: timeout})
	net.Intercept(func(from, to string, f []byte) [][]byte {
		if from == "exchange" || to == "exchange" {
			return nil // connected, silent
		}
		return [][]byte{f}
	})
	req := signReq("only the exchange")
	req.Partner, req.Only = "exchange", true
	start := time.Now()
	res, err := nodes["custodian"].Sign(context.Background(), req)
	el := time.Since(start)
	if !errors.Is(err, ErrNoSigners) || res == nil || len(res.Attempts) != 1 {
		t.Fatalf("only the exchange, silent: %v, %+v", err, res)
	}
	if a := res.Attempts[0]; !contains(a.Signers, "exchange") || len(a.Culprits) != 1 || a.Culprits[0] != "exchange" {
		t.Fatalf("the attempt: %+v", a)
	}
	if el < timeout*9/10 || el > timeout+time.Second {
		t.Fatalf("gave up after %v of a %v sign_timeout", el, timeout)
	}
}
