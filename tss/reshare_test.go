package tss

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
)

// partNet is a channel network for sessions where one node plays several
// participants: Send(toNode, env) hands env to every participant on toNode
// that env.To names, once, as a node's demultiplexer does.
type partNet struct {
	mu     sync.Mutex
	nodeOf map[string]string // participant → node
	inbox  map[string]chan Inbound
	sent   map[string]bool
	// intercept may rewrite or drop an envelope for one participant.
	intercept func(to string, env Envelope) (Envelope, bool)
}

type partConn struct {
	net  *partNet
	self string // participant
}

func newPartNet(ps []Party) *partNet {
	n := &partNet{nodeOf: map[string]string{}, inbox: map[string]chan Inbound{}, sent: map[string]bool{}}
	for _, p := range ps {
		n.nodeOf[p.ID] = p.Node
		n.inbox[p.ID] = make(chan Inbound, 1024)
	}
	return n
}

func (c *partConn) Inbox() <-chan Inbound { return c.net.inbox[c.self] }

func (c *partConn) Send(_ context.Context, toNode string, env Envelope) error {
	n := c.net
	n.mu.Lock()
	defer n.mu.Unlock()
	from := n.nodeOf[c.self]
	for _, to := range env.To {
		if n.nodeOf[to] != toNode || to == env.From {
			continue
		}
		d := env.digest()
		k := fmt.Sprintf("%s|%s|%x", to, env.From, d)
		if n.sent[k] {
			continue // flush sends a broadcast once per recipient: deliver once
		}
		n.sent[k] = true
		e := env
		if n.intercept != nil {
			var ok bool
			if e, ok = n.intercept(to, env); !ok {
				continue
			}
		}
		n.inbox[to] <- Inbound{From: from, Env: e}
	}
	return nil
}

// reshareFixture: the fixture key's custodian and exchange (old) reshare
// to custodian#2, exchange#2 and a fresh regulator#2, as when the
// regulator's node is lost.
var (
	oldCommittee = []Party{{ID: "custodian", Node: "custodian"}, {ID: "exchange", Node: "exchange"}}
	newCommittee = []Party{{ID: "custodian#2", Node: "custodian"}, {ID: "exchange#2", Node: "exchange"}, {ID: "regulator#2", Node: "regulator"}}
)

func reshareSessions(t testing.TB, shares map[string]*KeyShare, sid SessionID, pub []byte) map[string]*Session {
	t.Helper()
	m := map[string]*Session{}
	pp := map[string]int{"custodian#2": 0, "exchange#2": 1, "regulator#2": 3}
	for _, p := range append(append([]Party(nil), oldCommittee...), newCommittee...) {
		c := ReshareConfig{
			Config:     Config{SessionID: sid, Self: p, Deadline: time.Now().Add(3 * time.Minute)},
			KeyID:      "fixture",
			OldParties: oldCommittee, OldThreshold: 1,
			NewParties: newCommittee, NewThreshold: 1,
			PublicKey: pub,
		}
		if i, ok := pp[p.ID]; ok {
			c.PreParams = loadPreParams(t, i)
		} else {
			c.Share = shares[p.Node]
		}
		s, err := NewReshareSession(c)
		if err != nil {
			t.Fatalf("%s: %v", p.ID, err)
		}
		m[p.ID] = s
	}
	return m
}

func runParts(t testing.TB, net *partNet, sessions map[string]*Session) map[string]outcome {
	var all []string
	for id := range sessions {
		all = append(all, id)
	}
	return runPartsUntil(t, net, sessions, all...)
}

// runPartsUntil returns once the sessions of the participants named have
// ended, and cancels the rest.
func runPartsUntil(t testing.TB, net *partNet, sessions map[string]*Session, want ...string) map[string]outcome {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := make(chan outcome, len(sessions))
	for id, s := range sessions {
		go func() {
			err := Run(ctx, s, &partConn{net: net, self: id}, nil)
			ch <- outcome{id, s, err}
		}()
	}
	res := map[string]outcome{}
	for missing := len(want); missing > 0; {
		o := <-ch
		res[o.node] = o
		for _, w := range want {
			if w == o.node {
				missing--
			}
		}
	}
	return res
}

// TestReshareReplacesParty: the new committee holds the same group key,
// every new pair signs, the old shares are untouched (the old committee can
// still sign until the new shares are confirmed), and an old share does not
// combine with a new one.
func TestReshareReplacesParty(t *testing.T) {
	if testing.Short() {
		t.Skip("resharing costs tens of CPU-seconds; -short skips it")
	}
	shares := loadShares(t)
	pubKey, _ := shares["custodian"].PublicKey()
	pub := pubKey.SerializeCompressed()
	sid := DeriveSessionID(Reshare, []byte("fixture"), []byte("replace regulator"))
	net := newPartNet(append(append([]Party(nil), oldCommittee...), newCommittee...))
	start := time.Now()
	res := runParts(t, net, reshareSessions(t, shares, sid, pub))
	t.Logf("reshare took %v", time.Since(start))
	newShares := map[string]*KeyShare{}
	var view [32]byte
	for id, o := range res {
		if o.err != nil {
			t.Fatalf("%s: %v", id, o.err)
		}
		share, err := o.s.ReshareResult()
		if err != nil {
			t.Fatal(err)
		}
		if st := o.s.Stats(); st.Duplicates+st.Malformed+st.Spoofed+st.WrongType+st.Equivocations != 0 {
			t.Fatalf("%s: unexpected guard stats %+v", id, st)
		}
		if id == "custodian" || id == "exchange" {
			if share != nil {
				t.Fatalf("old member %s got a share", id)
			}
			continue
		}
		p, _ := share.PublicKey()
		if !p.IsEqual(pubKey) {
			t.Fatalf("%s holds a different group key", id)
		}
		v, err := share.PublicView()
		if err != nil {
			t.Fatal(err)
		}
		if view != ([32]byte{}) && v != view {
			t.Fatalf("%s has a different public view", id)
		}
		view = v
		// The share survives a marshal round trip (it is sealed at rest).
		b, _ := MarshalShare(share)
		if share, err = UnmarshalShare(b); err != nil {
			t.Fatal(err)
		}
		newShares[share.Self.Node] = share
	}
	if len(newShares) != 3 {
		t.Fatalf("%d new shares", len(newShares))
	}
	for _, pair := range [][]string{{"custodian", "exchange"}, {"custodian", "regulator"}, {"exchange", "regulator"}} {
		digest := sha256.Sum256([]byte("after reshare " + pair[0] + pair[1]))
		sid := DeriveSessionID(Sign, digest[:])
		r := runAll(t, newMemNet(testParties...), signSessionsSelf(t, newShares, pair, digest, sid))
		for _, n := range pair {
			if r[n].err != nil {
				t.Fatalf("new pair %v: %s: %v", pair, n, r[n].err)
			}
			sig, _ := r[n].s.Signature()
			verify(t, pubKey, sig)
		}
	}
	// The old committee's shares were not zeroed by tss-lib: they still
	// sign until the new shares are confirmed and the old ones destroyed.
	digest := sha256.Sum256([]byte("old committee"))
	r := runAll(t, newMemNet(testParties...), signSessions(t, shares, []string{"custodian", "exchange"}, digest, DeriveSessionID(Sign, digest[:], []byte("old")), time.Minute))
	for _, n := range []string{"custodian", "exchange"} {
		if r[n].err != nil {
			t.Fatalf("old committee after reshare: %v", r[n].err)
		}
	}
	// The wiped regulator's old share does not combine with a new share:
	// it is not one of the new key's holders, and forcing it in as the
	// regulator's share yields no valid signature.
	old := shares["regulator"]
	mixed := map[string]*KeyShare{"custodian": newShares["custodian"], "regulator": old}
	digest = sha256.Sum256([]byte("mixed"))
	if _, err := NewSignSession(SignConfig{Config: Config{SessionID: sid, Self: newShares["custodian"].Self, Deadline: time.Now().Add(time.Minute)},
		Share: newShares["custodian"], Signers: []string{"custodian", "regulator"}, Digest: digest}); err != nil {
		t.Fatalf("new share cannot even propose: %v", err)
	}
	newC, newR := newShares["custodian"].Data, newShares["regulator"].Data
	if !combines(pubKey, newC.Xi, newC.ShareID, newR.Xi, newR.ShareID) {
		t.Fatal("the new custodian and regulator shares do not interpolate to the group key")
	}
	for _, k := range []*big.Int{old.Data.ShareID, newR.ShareID} {
		if combines(pubKey, newC.Xi, newC.ShareID, old.Data.Xi, k) {
			t.Fatal("the old regulator share interpolates with a new share to the group key")
		}
	}
	if err := mixedSign(t, mixed, digest); err == nil {
		t.Fatal("an old share combined with a new share into a valid signature")
	} else {
		t.Logf("old+new share refused: %v", err)
	}
}

// signSessionsSelf is signSessions for shares whose participant IDs are not
// their node names (after a reshare).
func signSessionsSelf(t testing.TB, shares map[string]*KeyShare, signers []string, digest [32]byte, sid SessionID) map[string]*Session {
	t.Helper()
	m := map[string]*Session{}
	for _, n := range signers {
		s, err := NewSignSession(SignConfig{Config: Config{SessionID: sid, Self: shares[n].Self, Deadline: time.Now().Add(time.Minute)},
			Share: shares[n], Signers: signers, Digest: digest})
		if err != nil {
			t.Fatal(err)
		}
		m[n] = s
	}
	return m
}

// mixedSign makes the wiped regulator's old share pose as the new
// regulator#2 (same participant ID, so the session accepts it) and signs
// with the new custodian share. It must not produce a valid signature.
func mixedSign(t testing.TB, mixed map[string]*KeyShare, digest [32]byte) error {
	t.Helper()
	b, _ := MarshalShare(mixed["regulator"])
	impostor, err := UnmarshalShare(b)
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite the old share's metadata to the new committee's view: its
	// own key becomes regulator#2's, with the new key's public data.
	cust := mixed["custodian"]
	self := Party{ID: "regulator#2", Node: "regulator"}
	idx := -1
	for i, k := range cust.Data.Ks {
		if k.Cmp(self.Key()) == 0 {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatal("new share does not list regulator#2")
	}
	xi := impostor.Data.Xi
	pp := impostor.Data.LocalPreParams
	impostor.Data = cust.Data
	impostor.Data.Xi = xi
	impostor.Data.ShareID = self.Key()
	impostor.Data.LocalPreParams = pp
	impostor.Data.PaillierSK = pp.PaillierSK
	impostor.Self, impostor.Parties, impostor.KeyID = self, cust.Parties, cust.KeyID
	shares := map[string]*KeyShare{"custodian": cust, "regulator": impostor}
	sid := DeriveSessionID(Sign, digest[:], []byte("mixed"))
	sessions := map[string]*Session{}
	for _, n := range []string{"custodian", "regulator"} {
		s, err := NewSignSession(SignConfig{Config: Config{SessionID: sid, Self: shares[n].Self, Deadline: time.Now().Add(time.Minute)},
			Share: shares[n], Signers: []string{"custodian", "regulator"}, Digest: digest})
		if err != nil {
			return err
		}
		sessions[n] = s
	}
	// The first failure ends the test run: the other signer would only
	// wait for its deadline.
	r := runUntil(t, newMemNet(testParties...), sessions)
	for _, o := range r {
		if o.err != nil {
			return o.err
		}
		if _, err := o.s.Signature(); err != nil {
			return err
		}
	}
	return nil
}

// combines reports whether Lagrange interpolation at 0 of shares a and b,
// taken at abscissae ka and kb, gives the group key's discrete log.
func combines(pub *btcec.PublicKey, a, ka, b, kb *big.Int) bool {
	n := btcec.S256().N
	lag := func(ki, kj *big.Int) *big.Int { // kj / (kj - ki)
		d := new(big.Int).Sub(kj, ki)
		d.Mod(d, n)
		return new(big.Int).Mul(kj, d.ModInverse(d, n))
	}
	w := new(big.Int).Mul(a, lag(ka, kb))
	w.Add(w, new(big.Int).Mul(b, lag(kb, ka)))
	w.Mod(w, n)
	var s btcec.ModNScalar
	s.SetByteSlice(w.Bytes())
	return btcec.PrivKeyFromScalar(&s).PubKey().IsEqual(pub)
}

func TestReshareConfigErrors(t *testing.T) {
	shares := loadShares(t)
	sid := DeriveSessionID(Reshare, []byte("cfg"))
	base := func(self Party) ReshareConfig {
		return ReshareConfig{Config: Config{SessionID: sid, Self: self, Deadline: time.Now().Add(time.Minute)}, KeyID: "fixture",
			OldParties: oldCommittee, OldThreshold: 1, NewParties: newCommittee, NewThreshold: 1}
	}
	cases := map[string]func() ReshareConfig{
		"old without share":      func() ReshareConfig { return base(oldCommittee[0]) },
		"new without pre-params": func() ReshareConfig { return base(newCommittee[2]) },
		"same id in both": func() ReshareConfig {
			c := base(oldCommittee[0])
			c.Share = shares["custodian"]
			c.NewParties = []Party{oldCommittee[0], newCommittee[1], newCommittee[2]}
			return c
		},
		"old committee too small": func() ReshareConfig {
			c := base(oldCommittee[0])
			c.Share = shares["custodian"]
			c.OldParties = oldCommittee[:1]
			return c
		},
		"share of another party": func() ReshareConfig {
			c := base(oldCommittee[0])
			c.Share = shares["exchange"]
			return c
		},
		"wrong expected key": func() ReshareConfig {
			c := base(oldCommittee[0])
			c.Share = shares["custodian"]
			c.PublicKey = make([]byte, 33)
			return c
		},
	}
	for name, f := range cases {
		if _, err := NewReshareSession(f()); !isErr(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
	}
}

// TestReshareAdmit: an old member may not send a new-committee message,
// and a message for the old committee is refused by a new member, before
// tss-lib sees either.
func TestReshareAdmit(t *testing.T) {
	shares := loadShares(t)
	pubKey, _ := shares["custodian"].PublicKey()
	sid := DeriveSessionID(Reshare, []byte("admit"))
	ss := reshareSessions(t, shares, sid, pubKey.SerializeCompressed())
	s := ss["regulator#2"]
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	env := Envelope{Session: sid, Protocol: Reshare, From: "custodian", To: []string{"regulator#2"}, Broadcast: true, Round: 2,
		Type: "binance.tsslib.ecdsa.resharing.DGRound2Message1", Payload: []byte{1}}
	if err := s.Deliver("custodian", env); !isErr(err, ErrWrongType) {
		t.Fatalf("old member sending a new-committee message: %v", err)
	}
	env = Envelope{Session: sid, Protocol: Reshare, From: "exchange#2", To: []string{"regulator#2"}, Broadcast: true, Round: 2,
		Type: "binance.tsslib.ecdsa.resharing.DGRound2Message2", Payload: []byte{1}}
	if err := s.Deliver("exchange", env); !isErr(err, ErrWrongType) {
		t.Fatalf("old-committee message to a new member: %v", err)
	}
	if s.Done() {
		t.Fatal("a refused envelope aborted the session")
	}
}
