package node

import (
	"crypto/sha256"
	"testing"

	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// FuzzFrame feeds arbitrary bytes, as a frame from the exchange's pinned
// peer, to the custodian's node: malformed frames are dropped and
// counted, well-formed ones go through the router's and the proposal
// checks; nothing panics, whatever a hostile peer sends.
func FuzzFrame(f *testing.F) {
	_, nodes := memCluster(f, clusterOpts{withShares: true})
	n := nodes["custodian"]
	digest := sha256.Sum256([]byte("fuzz"))
	sid := tss.DeriveSessionID(tss.Sign, []byte("fuzz"))
	for _, fr := range []frame{
		{Kind: kindEnvelope, Envelope: &tss.Envelope{Session: sid, Protocol: tss.Sign, From: "exchange", Round: 1, Type: "x", Payload: []byte{1, 2}}},
		{Kind: kindDecline, Decline: &Decline{SessionID: sid, Reason: "no"}},
		{Kind: kindSaved, Saved: &Saved{SessionID: sid}},
		{Kind: kindApp, App: &AppMessage{Topic: "nobody-listens", Payload: []byte(`{}`)}},
		{Kind: kindApp, V: 2, App: &AppMessage{Topic: "nobody-listens", Payload: []byte(`{}`)}},
		{Kind: kindHello, V: 2, Hello: &Hello{Min: 1, Max: 2}},
		{Kind: kindHello, V: 9, Hello: &Hello{Min: 8, Max: 9, Ack: true}},
		// A proposal this node is no participant of: declined.
		{Kind: kindPropose, Proposal: &Proposal{Protocol: tss.Sign, SessionID: sid, KeyID: fixtures.KeyID, RequestID: "r",
			Participants: []string{"exchange", "regulator"}, Threshold: 1, Digest: digest[:]}},
	} {
		b, err := encodeFrame(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"envelope"}`))
	f.Add([]byte(`{"kind":"propose","proposal":{"protocol":"keygen","participants":[]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n.handle("exchange", b)
	})
}
