package service

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
)

// FuzzPeerMessage feeds arbitrary bytes, as a peer's custody message, to
// a node's service (no network: its own sends go nowhere). Decoding and
// handling must never panic, whatever a pinned but hostile peer sends.
func FuzzPeerMessage(f *testing.F) {
	pol := custody.DefaultPolicy(custody.Custodian)
	pol.Keys = []custody.KeyConfig{{ID: "vault-1", Role: custody.RoleCustody}}
	pol.Operators = map[custody.Party][]custody.OperatorKey{}
	for i, p := range custody.Parties {
		pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32)).Public().(ed25519.PublicKey)
		pol.Operators[p] = []custody.OperatorKey{{Name: "op", PublicKey: hex.EncodeToString(pub)}}
	}
	s, err := New(Options{Policy: pol, Path: filepath.Join(f.TempDir(), "store.db"), TickEvery: -1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })

	req := custody.Request{Kind: custody.KindRelease, IdempotencyKey: "fz", Requester: custody.Requester{Party: custody.Exchange, Caller: "ops"},
		Account: "acct-1", KeyID: "vault-1", Asset: "BTC", Destination: "bc1qowner", Amount: 1000, FeeRate: 5, CreatedAt: time.Unix(1_800_000_000, 0).UTC()}
	id, canon := req.ID(), req.Canonical()
	approval := custody.Approval{RequestID: id, Kind: custody.KindRelease, Stance: custody.Veto, Party: custody.Regulator, Operator: "carol",
		Nonce: "n-1", IssuedAt: req.CreatedAt, Expires: req.CreatedAt.Add(time.Hour), Signature: make([]byte, 64)}
	for _, m := range []message{
		{Type: msgPropose, RequestID: id, Request: canon},
		{Type: msgEndorse, RequestID: id, Request: canon, Auto: true},
		{Type: msgEndorse, RequestID: id, Request: canon, Approval: &approval},
		{Type: msgStatus, RequestID: id, Status: &PeerStatus{Status: custody.StatusApproved, Holds: []string{"exchange:approve"}},
			Result: &Result{Coordinator: "exchange", Signers: []custody.Party{"custodian", "exchange"}, Complete: true}},
		{Type: msgQuery, RequestID: id, Status: &PeerStatus{Holds: []string{"regulator:veto"}}},
		{Type: msgHead},
		{Type: msgAuditReq, Nonce: "x", From: 1},
	} {
		b, _ := json.Marshal(m)
		f.Add(uint8(1), b)
	}
	f.Add(uint8(2), []byte(`{"type":"status","status":null}`))
	f.Add(uint8(0), []byte(`{"type":"propose","request":"not canonical"}`))
	parties := []custody.Party{custody.Custodian, custody.Exchange, custody.Regulator}
	f.Fuzz(func(t *testing.T, from uint8, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		s.handle(string(parties[int(from)%len(parties)]), m)
	})
}

// Custody messages are strict within a version: version 1 carries no "v"
// (an explicit 1 is refused), unknown fields are refused whatever the
// version, and a later version decodes for the range check to refuse
// (../shared/SECURITY.md scenario 35).
func TestMessageVersionDecoding(t *testing.T) {
	for _, tc := range []struct {
		in string
		v  int // 0: refused
	}{
		{`{"type":"head"}`, 1},
		{`{"type":"head","v":2}`, 2},
		{`{"type":"head","v":3}`, 3},
		{`{"type":"head","v":1}`, 0},
		{`{"type":"head","v":-1}`, 0},
		{`{"type":"head","v":2,"new_field":1}`, 0},
	} {
		m, err := decodeMessage([]byte(tc.in))
		if got := map[bool]int{true: m.V, false: 0}[err == nil]; got != tc.v {
			t.Errorf("%s: v %d err %v", tc.in, m.V, err)
		}
	}
}
