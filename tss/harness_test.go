package tss

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/triad-custody/triad/tss/fixtures"
)

// memNet is the tss tests' channel network. intercept may drop, rewrite or
// multiply an envelope on its way from one node to another.
type memNet struct {
	mu        sync.Mutex
	conns     map[string]*memConn
	intercept func(from, to string, env Envelope) []Envelope
}

type memConn struct {
	net   *memNet
	self  string
	inbox chan Inbound
}

func newMemNet(nodes ...string) *memNet {
	n := &memNet{conns: map[string]*memConn{}}
	for _, id := range nodes {
		n.conns[id] = &memConn{net: n, self: id, inbox: make(chan Inbound, 1024)}
	}
	return n
}

func (c *memConn) Inbox() <-chan Inbound { return c.inbox }

func (c *memConn) Send(_ context.Context, to string, env Envelope) error {
	c.net.mu.Lock()
	dst, ok := c.net.conns[to]
	icpt := c.net.intercept
	c.net.mu.Unlock()
	if !ok {
		return fmt.Errorf("no route to %s", to)
	}
	envs := []Envelope{env}
	if icpt != nil {
		envs = icpt(c.self, to, env)
	}
	for _, e := range envs {
		dst.inbox <- Inbound{From: c.self, Env: e}
	}
	return nil
}

var testParties = []string{"custodian", "exchange", "regulator"}

func loadPreParams(t testing.TB, i int) *keygen.LocalPreParams {
	t.Helper()
	b, err := fixtures.PreParams(i)
	if err != nil {
		t.Fatal(err)
	}
	var pp keygen.LocalPreParams
	if err := json.Unmarshal(b, &pp); err != nil {
		t.Fatal(err)
	}
	return &pp
}

// loadShares returns the checked-in 2-of-3 key shares, by node.
func loadShares(t testing.TB) map[string]*KeyShare {
	t.Helper()
	out := map[string]*KeyShare{}
	for _, n := range testParties {
		b, err := fixtures.Share(n)
		if err != nil {
			t.Fatalf("fixture shares missing (regenerate with go test ./tss -run TestKeygen -regen): %v", err)
		}
		k, err := UnmarshalShare(b)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = k
	}
	return out
}

type outcome struct {
	node string
	s    *Session
	err  error
}

// runAll drives one session per node over net and returns their outcomes.
func runAll(t testing.TB, net *memNet, sessions map[string]*Session) map[string]outcome {
	var all []string
	for n := range sessions {
		all = append(all, n)
	}
	return runUntil(t, net, sessions, all...)
}

// runUntil returns once the sessions of the nodes named have ended (with
// none named: once any has), and cancels the rest.
func runUntil(t testing.TB, net *memNet, sessions map[string]*Session, want ...string) map[string]outcome {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := make(chan outcome, len(sessions))
	for node, s := range sessions {
		go func() {
			err := Run(ctx, s, net.conns[node], nil)
			ch <- outcome{node, s, err}
		}()
	}
	res := map[string]outcome{}
	for missing := max(len(want), 1); missing > 0; {
		o := <-ch
		res[o.node] = o
		for _, w := range want {
			if w == o.node {
				missing--
			}
		}
		if len(want) == 0 {
			missing--
		}
	}
	return res
}

func testConfig(sid SessionID, node string, d time.Duration) Config {
	return Config{SessionID: sid, Self: Party{ID: node, Node: node}, Deadline: time.Now().Add(d)}
}

func signSessions(t testing.TB, shares map[string]*KeyShare, signers []string, digest [32]byte, sid SessionID, d time.Duration) map[string]*Session {
	t.Helper()
	m := map[string]*Session{}
	for _, n := range signers {
		s, err := NewSignSession(SignConfig{Config: testConfig(sid, n, d), Share: shares[n], Signers: signers, Digest: digest})
		if err != nil {
			t.Fatal(err)
		}
		m[n] = s
	}
	return m
}

func isErr(err, target error) bool { return errors.Is(err, target) }
