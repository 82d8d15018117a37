package tss

import (
	"crypto/sha256"
	"math/big"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// pairSessions starts a custodian+exchange signing run by hand and returns
// the sessions and the exchange's first envelopes, undelivered.
func pairSessions(t *testing.T, label string) (cust, exch *Session, first []Envelope) {
	t.Helper()
	shares := loadShares(t)
	digest := sha256.Sum256([]byte(label))
	sid := DeriveSessionID(Sign, []byte(label))
	ss := signSessions(t, shares, []string{"custodian", "exchange"}, digest, sid, time.Minute)
	cust, exch = ss["custodian"], ss["exchange"]
	if err := cust.Start(); err != nil {
		t.Fatal(err)
	}
	if err := exch.Start(); err != nil {
		t.Fatal(err)
	}
	cust.Outbox()
	return cust, exch, exch.Outbox()
}

func TestGuardRejections(t *testing.T) {
	cust, _, first := pairSessions(t, "guard")
	var bcast Envelope
	for _, e := range first {
		if e.Broadcast {
			bcast = e
		}
	}
	_, _, other := pairSessions(t, "another session")

	// ../shared/SECURITY.md scenario 2: an envelope from session A replayed into session B.
	if err := cust.Deliver("exchange", other[0]); !isErr(err, ErrWrongSession) {
		t.Fatalf("replay from another session: %v", err)
	}
	// ../shared/SECURITY.md scenario 4: claimed sender is not the authenticated peer.
	if err := cust.Deliver("regulator", bcast); !isErr(err, ErrSpoofedSender) {
		t.Fatalf("spoofed sender: %v", err)
	}
	// A non-participant, and a message claiming to be from self.
	e := bcast
	e.From = "regulator"
	if err := cust.Deliver("regulator", e); !isErr(err, ErrNotParticipant) {
		t.Fatalf("non-participant: %v", err)
	}
	// ../shared/SECURITY.md scenario 6: wrong broadcast flag, wrong round, unknown type, keygen
	// message in a signing session.
	e = bcast
	e.Broadcast = false
	if err := cust.Deliver("exchange", e); !isErr(err, ErrWrongBroadcast) {
		t.Fatalf("broadcast flag: %v", err)
	}
	e = bcast
	e.Round = 4
	if err := cust.Deliver("exchange", e); !isErr(err, ErrWrongRound) {
		t.Fatalf("round: %v", err)
	}
	e = bcast
	e.Type = string(proto.MessageName(&keygen.KGRound1Message{}))
	e.Round = 1
	if err := cust.Deliver("exchange", e); !isErr(err, ErrWrongType) {
		t.Fatalf("keygen type in sign session: %v", err)
	}
	// Accepted once; the same envelope again is a duplicate and ignored.
	if err := cust.Deliver("exchange", bcast); err != nil {
		t.Fatalf("honest broadcast: %v", err)
	}
	if err := cust.Deliver("exchange", bcast); !isErr(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	st := cust.Stats()
	if st.WrongSession != 1 || st.Spoofed != 1 || st.NotParticipant != 1 || st.Duplicates != 1 || st.Accepted != 1 {
		t.Fatalf("counters: %+v", st)
	}
	if cust.Done() {
		t.Fatal("rejections must not end the session")
	}
	// ../shared/SECURITY.md scenario 3: a second, different message of the same type from the
	// same sender is equivocation: abort, blame the sender.
	forged := rewrite(t, bcast, func(m proto.Message) {
		m.(*signing.SignRound1Message2).Commitment = big.NewInt(42).Bytes()
	})
	err := cust.Deliver("exchange", forged)
	if !isErr(err, ErrEquivocation) || !Aborts(err) {
		t.Fatalf("equivocation: %v", err)
	}
	if c := Culprits(err); len(c) != 1 || c[0] != "exchange" {
		t.Fatalf("culprits %v", c)
	}
	if !cust.Done() || cust.Err() == nil {
		t.Fatal("equivocation must end the session")
	}
}

// rewrite decodes env's tss-lib payload, lets f change it, and re-encodes.
func rewrite(t testing.TB, env Envelope, f func(proto.Message)) Envelope {
	t.Helper()
	var a anypb.Any
	if err := proto.Unmarshal(env.Payload, &a); err != nil {
		t.Fatal(err)
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Fatal(err)
	}
	f(m)
	if err := a.MarshalFrom(m); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&a)
	if err != nil {
		t.Fatal(err)
	}
	env.Payload = b
	return env
}

func TestLateEnvelopeRefused(t *testing.T) {
	cust, _, first := pairSessions(t, "late")
	cust.cfg.Now = func() time.Time { return cust.cfg.Deadline.Add(time.Second) }
	if err := cust.Deliver("exchange", first[0]); !isErr(err, ErrLate) {
		t.Fatalf("late envelope: %v", err)
	}
	err := cust.Timeout()
	if !isErr(err, ErrTimeout) {
		t.Fatalf("timeout: %v", err)
	}
	if c := Culprits(err); len(c) != 1 || c[0] != "exchange" {
		t.Fatalf("timeout blames %v, want exchange", c)
	}
}

// ../shared/SECURITY.md scenario 7: malformed messages (huge integers, nil fields, a payload of
// another type) are refused before tss-lib does arithmetic on them, and
// the authenticated sender is blamed.
func TestMalformedAbortsAndBlames(t *testing.T) {
	cases := map[string]func(bcast, p2p Envelope) Envelope{
		"huge integer": func(b, _ Envelope) Envelope {
			return rewrite(t, b, func(m proto.Message) { m.(*signing.SignRound1Message2).Commitment = make([]byte, 1<<16) })
		},
		"nil field": func(b, _ Envelope) Envelope {
			return rewrite(t, b, func(m proto.Message) { m.(*signing.SignRound1Message2).Commitment = nil })
		},
		"payload of another type": func(b, p Envelope) Envelope {
			p.Type, p.Broadcast, p.To = b.Type, true, b.To
			return p
		},
		"truncated": func(b, _ Envelope) Envelope {
			b.Payload = b.Payload[:len(b.Payload)/2]
			return b
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			cust, _, first := pairSessions(t, "malformed "+name)
			var bcast, p2p Envelope
			for _, e := range first {
				if e.Broadcast {
					bcast = e
				} else {
					p2p = e
				}
			}
			err := cust.Deliver("exchange", mutate(bcast, p2p))
			if !isErr(err, ErrMalformed) || !Aborts(err) {
				t.Fatalf("got %v", err)
			}
			if c := Culprits(err); len(c) != 1 || c[0] != "exchange" {
				t.Fatalf("culprits %v", c)
			}
		})
	}
}

func FuzzDeliver(f *testing.F) {
	shares := loadShares(f)
	digest := sha256.Sum256([]byte("fuzz"))
	sid := DeriveSessionID(Sign, []byte("fuzz"))
	ss := signSessions(f, shares, []string{"custodian", "exchange"}, digest, sid, time.Hour)
	if err := ss["exchange"].Start(); err != nil {
		f.Fatal(err)
	}
	first := ss["exchange"].Outbox()
	for _, e := range first {
		b, _ := e.Encode()
		f.Add(b)
		f.Add(e.Payload)
	}
	f.Add([]byte(`{"session":"00"}`))
	// The guard and decoder are what untrusted bytes reach; a session that
	// is not started exercises them without tss-lib's expensive round 1.
	s := signSessions(f, shares, []string{"custodian", "exchange"}, digest, sid, time.Hour)["custodian"]
	f.Fuzz(func(t *testing.T, data []byte) {
		if env, err := DecodeEnvelope(data); err == nil {
			if s.guard("exchange", env) == nil {
				s.parse(env) // must not panic
			}
		}
		// The same bytes as a payload inside a well-formed envelope.
		for _, e := range first {
			e.Payload = data
			s.parse(e)
		}
	})
}
