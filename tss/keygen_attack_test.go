package tss

import (
	"crypto/rand"
	"math/big"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// keygenAttack runs a DKG in which every envelope the exchange sends passes
// through tamper, and checks that both honest parties abort blaming the
// exchange, with no key share to persist.
func keygenAttack(t *testing.T, label string, tamper func(to string, env Envelope) Envelope, want error) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a DKG")
	}
	net := newMemNet(testParties...)
	net.intercept = func(from, to string, env Envelope) []Envelope {
		if from == "exchange" {
			env = tamper(to, env)
		}
		return []Envelope{env}
	}
	res := runUntil(t, net, keygenSessions(t, DeriveSessionID(Keygen, []byte(label))), "custodian", "regulator")
	for _, n := range []string{"custodian", "regulator"} {
		o := res[n]
		if !isErr(o.err, want) {
			t.Fatalf("%s: got %v, want %v", n, o.err, want)
		}
		if c := Culprits(o.err); len(c) != 1 || c[0] != "exchange" {
			t.Fatalf("%s blames %v, want [exchange]", n, c)
		}
		if _, err := o.s.KeyShare(); err == nil {
			t.Fatalf("%s has a key share after an aborted keygen", n)
		}
	}
}

// ../shared/SECURITY.md scenario 1: a peer omits its modulus proof.
func TestKeygenOmittedProof(t *testing.T) {
	keygenAttack(t, "omit", func(_ string, env Envelope) Envelope {
		if env.Type != name(&keygen.KGRound2Message2{}) {
			return env
		}
		return rewrite(t, env, func(m proto.Message) { m.(*keygen.KGRound2Message2).ModProof = nil })
	}, ErrMalformed)
}

// ../shared/SECURITY.md scenario 1: a peer offers a Paillier modulus with a small factor
// (BitForge); its modulus proof cannot hold for it.
func TestKeygenSmallFactorModulus(t *testing.T) {
	q, err := rand.Prime(rand.Reader, 2040)
	if err != nil {
		t.Fatal(err)
	}
	// 7·m·q: odd and of the size the field checks want, so that only the
	// modulus proof can tell.
	bad := new(big.Int)
	for m := int64(19); bad.BitLen() != 2048; m += 2 {
		bad.Mul(q, big.NewInt(7*m))
	}
	keygenAttack(t, "bitforge", func(_ string, env Envelope) Envelope {
		if env.Type != name(&keygen.KGRound1Message{}) {
			return env
		}
		return rewrite(t, env, func(m proto.Message) { m.(*keygen.KGRound1Message).PaillierN = bad.Bytes() })
	}, ErrProtocol)
}

// ../shared/SECURITY.md scenario 5: the exchange's round-3 broadcast reaches the regulator with
// an extra field tss-lib ignores. Only the echo can see the difference.
func TestKeygenInconsistentBroadcast(t *testing.T) {
	keygenAttack(t, "equivocating broadcast", func(to string, env Envelope) Envelope {
		if to != "regulator" || env.Type != name(&keygen.KGRound3Message{}) {
			return env
		}
		return rewrite(t, env, func(m proto.Message) {
			r := m.ProtoReflect()
			r.SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), []byte("x")))
		})
	}, ErrInconsistentBroadcast)
}
