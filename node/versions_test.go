package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triad-custody/triad/tss"
)

// legacyFrameV1 is the frame as nodes of protocol version 1 decode it (the
// format before versioning), strictly: what a node not yet upgraded makes
// of the bytes it is sent.
type legacyFrameV1 struct {
	Kind     string          `json:"kind"`
	Envelope json.RawMessage `json:"envelope,omitempty"`
	Proposal json.RawMessage `json:"proposal,omitempty"`
	Decline  json.RawMessage `json:"decline,omitempty"`
	Saved    json.RawMessage `json:"saved,omitempty"`
	App      json.RawMessage `json:"app,omitempty"`
	Withdraw json.RawMessage `json:"withdraw,omitempty"`
}

func decodeLegacyV1(b []byte) error {
	var f legacyFrameV1
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return err
	}
	switch f.Kind {
	case kindEnvelope, kindPropose, kindDecline, kindSaved, kindApp, kindWithdraw:
		return nil
	}
	return errors.New("unknown kind " + f.Kind)
}

// frameLog records the frames the in-memory network carries.
type frameLog struct {
	mu     sync.Mutex
	frames []loggedFrame
}

type loggedFrame struct {
	from, to string
	b        []byte
}

func (l *frameLog) intercept(from, to string, f []byte) [][]byte {
	l.mu.Lock()
	l.frames = append(l.frames, loggedFrame{from, to, append([]byte(nil), f...)})
	l.mu.Unlock()
	return [][]byte{f}
}

func (l *frameLog) all() []loggedFrame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]loggedFrame(nil), l.frames...)
}

// ../shared/SECURITY.md scenario 35 (rolling upgrades): the custodian still runs
// protocol version 1 (the format before versioning) while the exchange and
// the regulator run version 2. Every pair signs in one attempt — an old
// coordinator with a new partner, a new coordinator with the old partner,
// and two new nodes — the old node is sent only frames an old node
// decodes (checked with a strict copy of the version-1 frame), and the
// new nodes speak version 2 between themselves.
func TestRollingUpgradeSigns(t *testing.T) {
	net, nodes := memCluster(t, clusterOpts{withShares: true, versions: map[string][2]int{"custodian": {1, 1}}})
	log := &frameLog{}
	net.Intercept(log.intercept)
	pub := fixturePub(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, pair := range [][2]string{{"custodian", "exchange"}, {"exchange", "custodian"}, {"regulator", "exchange"}, {"regulator", "custodian"}} {
		req := signReq("upgrade " + pair[0] + "+" + pair[1])
		req.Partner = pair[1]
		res, err := nodes[pair[0]].Sign(ctx, req)
		if err != nil {
			t.Fatalf("%s with %s: %v", pair[0], pair[1], err)
		}
		verifySig(t, pub, res.Signature)
		if len(res.Attempts) != 1 {
			t.Fatalf("%s with %s: %d attempts: %+v", pair[0], pair[1], len(res.Attempts), res.Attempts)
		}
	}
	v2 := 0
	for _, f := range log.all() {
		var hdr struct {
			Kind string `json:"kind"`
			V    int    `json:"v"`
		}
		if err := json.Unmarshal(f.b, &hdr); err != nil {
			t.Fatal(err)
		}
		switch {
		case f.from == "custodian" && hdr.V != 0:
			t.Fatalf("the version-1 node sent a version-%d frame", hdr.V)
		case f.to == "custodian" && hdr.Kind != kindHello:
			if err := decodeLegacyV1(f.b); err != nil {
				t.Fatalf("%s sent the version-1 node a frame it refuses: %v: %s", f.from, err, f.b)
			}
		case f.to != "custodian" && f.from != "custodian" && hdr.Kind != kindHello && hdr.V == ProtocolMax:
			v2++
		}
	}
	if v2 == 0 {
		t.Fatalf("the two new nodes never spoke version %d", ProtocolMax)
	}
	for _, p := range []string{"exchange", "regulator"} {
		if got := nodes[p].PeerProtocol("custodian"); got != 1 {
			t.Fatalf("%s speaks %d to the custodian", p, got)
		}
		if inc := nodes[p].Incidents(); len(inc) != 0 {
			t.Fatalf("%s: incidents %+v", p, inc)
		}
	}
	if got := nodes["exchange"].PeerProtocol("regulator"); got != ProtocolMax {
		t.Fatalf("exchange speaks %d to the regulator", got)
	}
	if c := nodes["custodian"].Counters(); c["version_refused"] != 0 {
		t.Fatalf("custodian refused frames: %v", c)
	}
}

// ../shared/SECURITY.md scenario 35: a node whose versions do not overlap is
// refused with an error naming both sides' versions, recorded as an
// incident; the coordinator fails over to the other partner at once.
func TestProtocolVersionOutOfRangeRefused(t *testing.T) {
	net, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: 5 * time.Second})
	log := &frameLog{}
	net.Intercept(log.intercept)
	// The exchange says it speaks two versions ahead only.
	hello, err := encodeFrame(frame{Kind: kindHello, V: ProtocolMax + 1, Hello: &Hello{Min: ProtocolMax + 1, Max: ProtocolMax + 2}})
	if err != nil {
		t.Fatal(err)
	}
	cu := nodes["custodian"]
	cu.handle("exchange", hello)
	want := fmt.Sprintf("exchange speaks protocol version %d..%d, this node 1..%d", ProtocolMax+1, ProtocolMax+2, ProtocolMax)
	inc := cu.Incidents()
	if len(inc) != 1 || inc[0].Protocol != "version" || !strings.Contains(inc[0].Error, want) || inc[0].Culprits[0] != "exchange" {
		t.Fatalf("incidents %+v, want one naming %q", inc, want)
	}
	cu.handle("exchange", hello) // the same mismatch again: counted, not a second incident
	if n := len(cu.Incidents()); n != 1 {
		t.Fatalf("%d incidents", n)
	}
	// A frame of a later version is refused too, before it reaches the router.
	env := tss.Envelope{Session: tss.DeriveSessionID(tss.Sign, []byte("v3")), Protocol: tss.Sign, From: "exchange", Round: 1, Type: "x"}
	b, _ := encodeFrame(frame{Kind: kindEnvelope, V: ProtocolMax + 1, Envelope: &env})
	cu.handle("exchange", b)
	if c := cu.Counters(); c["version_refused"] != 3 {
		t.Fatalf("counters %v", c)
	}
	if err := cu.SendApp(context.Background(), "exchange", "t", []byte(`{}`)); !errors.Is(err, ErrProtocolVersion) || !strings.Contains(err.Error(), want) {
		t.Fatalf("send to a refused peer: %v", err)
	}
	req := signReq("refused partner")
	req.Partner = "exchange"
	res, err := cu.Sign(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	verifySig(t, fixturePub(t), res.Signature)
	// The first attempt ended on the refusal itself, not on the exchange's
	// silence (a wall-clock bound here was flaky on a loaded machine).
	if len(res.Attempts) != 2 || !strings.Contains(res.Attempts[0].Error, want) || strings.Contains(res.Attempts[0].Error, "sent nothing") || res.Signers[1] != "regulator" {
		t.Fatalf("attempts %+v signers %v", res.Attempts, res.Signers)
	}
	// The custodian answered the hello with its own range, so the exchange
	// can name both versions too.
	answered := false
	for _, f := range log.all() {
		if g, err := decodeFrame(f.b); err == nil && f.from == "custodian" && f.to == "exchange" && g.Kind == kindHello {
			answered = g.Hello.Ack && g.Hello.Min == 1 && g.Hello.Max == ProtocolMax
		}
	}
	if !answered {
		t.Fatal("no hello answered to the exchange")
	}
}

// ../shared/SECURITY.md scenario 35: a node that dropped version 1 (2..2) and a
// node still on version 1 cannot talk: the version-2 node refuses the old
// node's frames naming both versions, and then refuses to send to it at
// once; each signs with the third node, which speaks both.
func TestProtocolVersionDroppedRefused(t *testing.T) {
	_, nodes := memCluster(t, clusterOpts{withShares: true, signTimeout: 10 * time.Second,
		versions: map[string][2]int{"custodian": {2, 2}, "exchange": {1, 1}}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := signReq("old to new-only")
	req.Partner = "custodian"
	res, err := nodes["exchange"].Sign(ctx, req) // the custodian refuses the proposal; the regulator signs
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Attempts) != 2 || res.Signers[1] != "regulator" {
		t.Fatalf("attempts %+v signers %v", res.Attempts, res.Signers)
	}
	want := "exchange sent protocol version 1, this node speaks 2"
	if inc := nodes["custodian"].Incidents(); len(inc) == 0 || !strings.Contains(inc[0].Error, want) {
		t.Fatalf("custodian incidents %+v, want %q", inc, want)
	}
	req = signReq("new-only to old")
	req.Partner = "exchange"
	res, err = nodes["custodian"].Sign(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want = "exchange speaks protocol version 1, this node 2"
	if len(res.Attempts) != 2 || !strings.Contains(res.Attempts[0].Error, want) {
		t.Fatalf("attempts %+v, want the first naming %q", res.Attempts, want)
	}
	if got := nodes["regulator"].PeerProtocol("custodian"); got != 2 {
		t.Fatalf("regulator speaks %d to the custodian", got)
	}
}

// Strict decoding stays strict within a version: version 1 carries no
// "v" and no hello; a hello needs a sane range; unknown fields are refused
// whatever the version.
func TestFrameVersionDecoding(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
		v  int
	}{
		{`{"kind":"app","app":{"topic":"t","payload":{}}}`, true, 1},
		{`{"kind":"app","v":2,"app":{"topic":"t","payload":{}}}`, true, 2},
		{`{"kind":"app","v":7,"app":{"topic":"t","payload":{}}}`, true, 7}, // refused by range, not by decoding
		{`{"kind":"app","v":1,"app":{"topic":"t","payload":{}}}`, false, 0},
		{`{"kind":"app","v":-2,"app":{"topic":"t","payload":{}}}`, false, 0},
		{`{"kind":"app","v":2,"extra":1,"app":{"topic":"t","payload":{}}}`, false, 0},
		{`{"kind":"hello","hello":{"min":1,"max":2}}`, false, 0},
		{`{"kind":"hello","v":2,"hello":{"min":2,"max":1}}`, false, 0},
		{`{"kind":"hello","v":2,"hello":{"min":0,"max":1}}`, false, 0},
		{`{"kind":"hello","v":2,"hello":{"min":1,"max":2,"x":1}}`, false, 0},
		{`{"kind":"hello","v":2,"hello":{"min":1,"max":2}}`, true, 2},
		{`{"kind":"app","v":2,"hello":{"min":1,"max":2}}`, false, 0},
	} {
		f, err := decodeFrame([]byte(tc.in))
		if (err == nil) != tc.ok || tc.ok && f.V != tc.v {
			t.Errorf("%s: v %d err %v", tc.in, f.V, err)
		}
	}
	if _, err := newVersions(1, ProtocolMax+1); err == nil {
		t.Error("a node configured for a version it does not know")
	}
	if _, err := newVersions(2, 1); err == nil {
		t.Error("an empty range")
	}
}

// A peer that said it speaks version 2 and then sends a run of version-1
// frames (restarted on an older release) is spoken to in version 1 again
// until it says hello; a few version-1 frames (sent before the peer
// learnt this node's range) change nothing.
func TestPeerRolledBackForgotten(t *testing.T) {
	v, _ := newVersions(1, 2)
	now := time.Unix(0, 0)
	if ver, hello, _ := v.forSend("x", now); ver != 1 || !hello {
		t.Fatalf("unknown peer: version %d hello %v", ver, hello)
	}
	if _, hello, _ := v.forSend("x", now.Add(time.Second)); hello {
		t.Fatal("hello repeated within helloEvery")
	}
	v.learn("x", 1, 2)
	if ver, _, _ := v.forSend("x", now); ver != 2 {
		t.Fatalf("known peer: version %d", ver)
	}
	for i := 0; i < rollbackAfter-1; i++ {
		if err, _ := v.checkFrame("x", 1); err != nil {
			t.Fatal(err)
		}
	}
	v.checkFrame("x", 2) // the run is broken
	for i := 0; i < rollbackAfter-1; i++ {
		v.checkFrame("x", 1)
	}
	if ver, _, _ := v.forSend("x", now); ver != 2 {
		t.Fatalf("a few version-1 frames: version %d", ver)
	}
	v.checkFrame("x", 1)
	if ver, hello, _ := v.forSend("x", now.Add(2*time.Second)); ver != 1 || !hello {
		t.Fatalf("rolled-back peer: version %d hello %v", ver, hello)
	}
}

// ../shared/SECURITY.md scenario 35 on real libp2p hosts (loopback): a version-1
// node signs with a node of the current version in both roles, and two
// current nodes settle on the current version (ProtocolMax).
func TestRollingUpgradeSignsLibp2p(t *testing.T) {
	_, nodes := libp2pCluster(t, clusterOpts{withShares: true, versions: map[string][2]int{"regulator": {1, 1}}})
	pub := fixturePub(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, pair := range [][2]string{{"regulator", "exchange"}, {"custodian", "regulator"}, {"exchange", "custodian"}} {
		req := signReq("libp2p upgrade " + pair[0] + "+" + pair[1])
		req.Partner = pair[1]
		res, err := nodes[pair[0]].Sign(ctx, req)
		if err != nil {
			t.Fatalf("%s with %s: %v", pair[0], pair[1], err)
		}
		verifySig(t, pub, res.Signature)
		if len(res.Attempts) != 1 {
			t.Fatalf("%s with %s: attempts %+v", pair[0], pair[1], res.Attempts)
		}
	}
	if got := nodes["custodian"].PeerProtocol("exchange"); got != ProtocolMax {
		t.Fatalf("custodian speaks %d to the exchange", got)
	}
	if got := nodes["custodian"].PeerProtocol("regulator"); got != 1 {
		t.Fatalf("custodian speaks %d to the regulator", got)
	}
}

// ../shared/SECURITY.md scenario 35, seen by an operator: each peer's protocol versions as this
// node knows them (GET /v1/status, `triad status`): the range from its
// hello and the version spoken to it; a version-1 peer, which never says
// hello, as unknown and spoken to in version 1; a peer outside the range
// as refused, naming both sides' versions, and spoken to in none.
func TestPeerVersionsReported(t *testing.T) {
	_, nodes := memCluster(t, clusterOpts{withShares: true})
	ex := nodes["exchange"]
	if got := ex.PeerVersions("regulator"); got != (PeerVersions{Speaks: 1}) {
		t.Fatalf("before any frame: %+v", got)
	}
	hello := func(min, max int) []byte {
		b, err := encodeFrame(frame{Kind: kindHello, V: max, Hello: &Hello{Min: min, Max: max, Ack: true}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ex.handle("regulator", hello(1, 2))
	if got, want := ex.PeerVersions("regulator"), (PeerVersions{Known: true, Min: 1, Max: 2, Speaks: 2}); got != want {
		t.Fatalf("regulator: %+v, want %+v", got, want)
	}
	v1, err := encodeFrame(frame{Kind: kindApp, App: &AppMessage{Topic: "t", Payload: []byte(`{}`)}})
	if err != nil {
		t.Fatal(err)
	}
	ex.handle("custodian", v1) // a version-1 node: frames without "v", never a hello
	if got, want := ex.PeerVersions("custodian"), (PeerVersions{Speaks: 1}); got != want {
		t.Fatalf("version-1 custodian: %+v, want %+v", got, want)
	}
	ex.handle("regulator", hello(ProtocolMax+1, ProtocolMax+2))
	got := ex.PeerVersions("regulator")
	want := fmt.Sprintf("regulator speaks protocol version %d..%d, this node 1..%d", ProtocolMax+1, ProtocolMax+2, ProtocolMax)
	if !got.Known || got.Min != ProtocolMax+1 || got.Speaks != 0 || !strings.Contains(got.Refused, want) {
		t.Fatalf("refused regulator: %+v", got)
	}
}
