package tss

import (
	"crypto/sha256"
	"flag"
	"math/big"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
	"google.golang.org/protobuf/proto"
)

// ../shared/SECURITY.md scenario 25: a zero, out-of-range or non-coprime ciphertext or proof
// element. tss-lib v2.0.2 verifies some proofs on goroutines of its own,
// where a panic kills the process whatever protect does, so each case runs
// in a child process (this test binary, re-executed): a crash there is a
// failed case here, with the child's output.

// childCaseEnv names the case a re-executed test binary runs.
const childCaseEnv = "TRIAD_TSS_CHILD_CASE"

// inChild runs body in a child process (this test binary, running only
// t) when this process is the parent, and runs it directly in the child.
// It returns the child's output to the parent.
func inChild(t *testing.T, body func(t *testing.T)) []byte {
	t.Helper()
	if os.Getenv(childCaseEnv) == t.Name() {
		body(t)
		return nil
	}
	var run []string
	for _, part := range strings.Split(t.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(part)+"$")
	}
	timeout := "10m"
	if f := flag.Lookup("test.timeout"); f != nil {
		timeout = f.Value.String() // the child has the parent's deadline
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(run, "/"), "-test.v", "-test.timeout="+timeout)
	cmd.Env = append(os.Environ(), childCaseEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process failed (%v): a crash on any goroutine is fatal to the node:\n%s", err, tail(out, 4000))
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child did not run %s:\n%s", t.Name(), tail(out, 2000))
	}
	return out
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// wantBlamed checks that err aborts the session naming only culprit.
func wantBlamed(t *testing.T, err error, culprit string) {
	t.Helper()
	if !Aborts(err) || !isErr(err, ErrMalformed) {
		t.Fatalf("got %v, want a malformed-message abort", err)
	}
	if c := Culprits(err); len(c) != 1 || c[0] != culprit {
		t.Fatalf("blames %v, want [%s]", c, culprit)
	}
}

// deliverAll hands envs to s and fails on the first error.
func deliverAll(t *testing.T, s *Session, from string, envs []Envelope) {
	t.Helper()
	for _, e := range envs {
		if err := s.Deliver(from, e); err != nil {
			t.Fatalf("honest %s from %s: %v", e.Type, from, err)
		}
	}
}

// signPair starts a custodian+exchange signing by hand and returns both
// sessions and their first-round envelopes, undelivered.
func signPair(t testing.TB, label string) (cust, exch *Session, custOut, exchOut []Envelope) {
	t.Helper()
	digest := sha256.Sum256([]byte(label))
	ss := signSessions(t, loadShares(t), []string{"custodian", "exchange"}, digest, DeriveSessionID(Sign, []byte(label)), time.Minute)
	cust, exch = ss["custodian"], ss["exchange"]
	for _, s := range []*Session{cust, exch} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
	}
	return cust, exch, cust.Outbox(), exch.Outbox()
}

func ofType(envs []Envelope, m proto.Message) (hit Envelope, rest []Envelope) {
	for _, e := range envs {
		if e.Type == name(m) {
			hit = e
		} else {
			rest = append(rest, e)
		}
	}
	return hit, rest
}

// exchangePaillier returns the exchange's Paillier N and one of its primes:
// test fixtures are public, and a multiple of p is a ciphertext an
// attacker can send without knowing p.
func exchangePaillier(t testing.TB) (n, p *big.Int) {
	sk := loadShares(t)["exchange"].Data.PaillierSK
	return sk.N, sk.P
}

func TestSignRound1CraftedCiphertext(t *testing.T) {
	n, p := exchangePaillier(t)
	n2 := new(big.Int).Mul(n, n)
	cases := map[string]func(m *signing.SignRound1Message1){
		"c=0":                func(m *signing.SignRound1Message1) { m.C = []byte{0} },
		"c=N²":               func(m *signing.SignRound1Message1) { m.C = n2.Bytes() },
		"c=N":                func(m *signing.SignRound1Message1) { m.C = n.Bytes() },
		"c=7p (factor of N)": func(m *signing.SignRound1Message1) { m.C = new(big.Int).Mul(p, big.NewInt(7)).Bytes() },
		"c=N²+1":             func(m *signing.SignRound1Message1) { m.C = new(big.Int).Add(n2, big.NewInt(1)).Bytes() },
		"range proof u=0":    func(m *signing.SignRound1Message1) { m.RangeProofAlice[1] = []byte{0} },
		"range proof s=N":    func(m *signing.SignRound1Message1) { m.RangeProofAlice[3] = n.Bytes() },
		"range proof s1<q":   func(m *signing.SignRound1Message1) { m.RangeProofAlice[4] = []byte{1} },
		"range proof short":  func(m *signing.SignRound1Message1) { m.RangeProofAlice = m.RangeProofAlice[:5] },
	}
	for label, mutate := range cases {
		t.Run(label, func(t *testing.T) {
			inChild(t, func(t *testing.T) {
				cust, _, _, exchOut := signPair(t, "crafted "+label)
				mta, rest := ofType(exchOut, &signing.SignRound1Message1{})
				deliverAll(t, cust, "exchange", rest)
				err := cust.Deliver("exchange", rewrite(t, mta, func(m proto.Message) { mutate(m.(*signing.SignRound1Message1)) }))
				wantBlamed(t, err, "exchange")
			})
		})
	}
}

// Round 3 verifies Bob's proofs on goroutines; s1 ≡ 0 mod q makes tss-lib
// compute g^0, the point at infinity, and panic there.
func TestSignRound2CraftedProof(t *testing.T) {
	cases := map[string]func(m *signing.SignRound2Message){
		"ProofBobWC s1=q":        func(m *signing.SignRound2Message) { m.ProofBobWc[6] = tsslib.S256().Params().N.Bytes() },
		"ProofBobWC U off-curve": func(m *signing.SignRound2Message) { m.ProofBobWc[11] = []byte{5} },
		"c1=0":                   func(m *signing.SignRound2Message) { m.C1 = []byte{0} },
		"ProofBob v=0":           func(m *signing.SignRound2Message) { m.ProofBob[3] = []byte{0} },
	}
	for label, mutate := range cases {
		t.Run(label, func(t *testing.T) {
			inChild(t, func(t *testing.T) {
				cust, exch, custOut, exchOut := signPair(t, "crafted "+label)
				deliverAll(t, cust, "exchange", exchOut)
				deliverAll(t, exch, "custodian", custOut)
				r2, _ := ofType(exch.Outbox(), &signing.SignRound2Message{})
				err := cust.Deliver("exchange", rewrite(t, r2, func(m proto.Message) { mutate(m.(*signing.SignRound2Message)) }))
				wantBlamed(t, err, "exchange")
			})
		})
	}
}

// signTranscript runs a custodian+exchange signing by hand and returns
// every envelope the exchange sent the custodian, by type.
func signTranscript(t *testing.T, label string) (cust *Session, sent map[string]Envelope) {
	t.Helper()
	cust, exch, custOut, exchOut := signPair(t, label)
	sent = map[string]Envelope{}
	for len(custOut)+len(exchOut) > 0 {
		for _, e := range exchOut {
			sent[e.Type] = e
		}
		deliverAll(t, cust, "exchange", exchOut)
		deliverAll(t, exch, "custodian", custOut)
		custOut, exchOut = cust.Outbox(), exch.Outbox()
	}
	if _, err := cust.Signature(); err != nil {
		t.Fatal(err)
	}
	return cust, sent
}

// Later signing rounds: scalars and points tss-lib turns into curve
// arithmetic (a Schnorr t of 0 is the point at infinity, which panics).
func TestSignLaterRoundsCrafted(t *testing.T) {
	cust, sent := signTranscript(t, "crafted later")
	set := func(m proto.Message, f func(proto.Message)) Envelope { return rewrite(t, sent[name(m)], f) }
	offCurve := []byte{5}
	cases := map[string]Envelope{
		"theta=q":                     set(&signing.SignRound3Message{}, func(m proto.Message) { m.(*signing.SignRound3Message).Theta = tsslib.S256().Params().N.Bytes() }),
		"round 4 Schnorr t=0":         set(&signing.SignRound4Message{}, func(m proto.Message) { m.(*signing.SignRound4Message).ProofT = []byte{0} }),
		"round 4 alpha off-curve":     set(&signing.SignRound4Message{}, func(m proto.Message) { m.(*signing.SignRound4Message).ProofAlphaY = offCurve }),
		"round 4 Gamma off-curve":     set(&signing.SignRound4Message{}, func(m proto.Message) { m.(*signing.SignRound4Message).DeCommitment[2] = offCurve }),
		"round 5 commitment too long": set(&signing.SignRound5Message{}, func(m proto.Message) { m.(*signing.SignRound5Message).Commitment = make([]byte, 33) }),
		"round 6 V proof u=q":         set(&signing.SignRound6Message{}, func(m proto.Message) { m.(*signing.SignRound6Message).VProofU = tsslib.S256().Params().N.Bytes() }),
		"round 6 V proof t=0":         set(&signing.SignRound6Message{}, func(m proto.Message) { m.(*signing.SignRound6Message).VProofT = []byte{0} }),
		"round 6 A off-curve":         set(&signing.SignRound6Message{}, func(m proto.Message) { m.(*signing.SignRound6Message).DeCommitment[4] = offCurve }),
		"round 8 U off-curve":         set(&signing.SignRound8Message{}, func(m proto.Message) { m.(*signing.SignRound8Message).DeCommitment[1] = offCurve }),
		"round 9 s=q":                 set(&signing.SignRound9Message{}, func(m proto.Message) { m.(*signing.SignRound9Message).S = tsslib.S256().Params().N.Bytes() }),
	}
	for label, env := range cases {
		if _, err := cust.parse(env); !isErr(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", label, err)
		}
	}
	for typ, env := range sent {
		if _, err := cust.parse(env); err != nil {
			t.Errorf("honest %s refused: %v", typ, err)
		}
	}
}

// ../shared/SECURITY.md scenario 25 in keygen: an even Paillier modulus makes big.Jacobi panic
// inside the modulus proof check on a round-3 goroutine; a zero share
// makes the VSS check compute the point at infinity there; a crafted DLN
// proof length prefix panics in the parser on a round-2 goroutine.
func TestKeygenCraftedFields(t *testing.T) {
	cases := map[string]func(to string, env Envelope) Envelope{
		"even Paillier N": func(_ string, env Envelope) Envelope {
			if env.Type != name(&keygen.KGRound1Message{}) {
				return env
			}
			return rewrite(t, env, func(m proto.Message) {
				r1 := m.(*keygen.KGRound1Message)
				r1.PaillierN = new(big.Int).Add(new(big.Int).SetBytes(r1.PaillierN), big.NewInt(1)).Bytes()
			})
		},
		// Found by the keygen field fuzzer: tss-lib reads the prefix as the int64
		// -1 and slices with it on a round-2 goroutine.
		"DLN proof length prefix": func(_ string, env Envelope) Envelope {
			if env.Type != name(&keygen.KGRound1Message{}) {
				return env
			}
			return rewrite(t, env, func(m proto.Message) {
				m.(*keygen.KGRound1Message).Dlnproof_1[0] = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
			})
		},
		"share=0": func(_ string, env Envelope) Envelope {
			if env.Type != name(&keygen.KGRound2Message1{}) {
				return env
			}
			return rewrite(t, env, func(m proto.Message) { m.(*keygen.KGRound2Message1).Share = []byte{0} })
		},
	}
	for label, tamper := range cases {
		t.Run(label, func(t *testing.T) {
			inChild(t, func(t *testing.T) {
				keygenAttack(t, "crafted "+label, tamper, ErrMalformed)
			})
		})
	}
}

// ../shared/SECURITY.md scenario 25 in resharing: tss-lib checks no modulus size in resharing
// and verifies the modulus proof on a round-4 goroutine, where an even N
// panics in big.Jacobi.
func TestReshareEvenPaillierModulus(t *testing.T) {
	if testing.Short() {
		t.Skip("resharing costs tens of CPU-seconds; -short skips it")
	}
	inChild(t, func(t *testing.T) {
		shares := loadShares(t)
		pub, _ := shares["custodian"].PublicKey()
		sid := DeriveSessionID(Reshare, []byte("even N"))
		ss := reshareSessions(t, shares, sid, pub.SerializeCompressed())
		net := newPartNet(append(append([]Party(nil), oldCommittee...), newCommittee...))
		net.intercept = func(_ string, env Envelope) (Envelope, bool) {
			if env.From != "exchange#2" || env.Type != name(&resharing.DGRound2Message1{}) {
				return env, true
			}
			return rewrite(t, env, func(m proto.Message) {
				r2 := m.(*resharing.DGRound2Message1)
				r2.PaillierN = new(big.Int).Add(new(big.Int).SetBytes(r2.PaillierN), big.NewInt(1)).Bytes()
			}), true
		}
		res := runPartsUntil(t, net, ss, "custodian#2", "regulator#2")
		for _, id := range []string{"custodian#2", "regulator#2"} {
			wantBlamed(t, res[id].err, "exchange#2")
		}
	})
}

// The field checks need every signer's Paillier N and Ñ; a share without
// them is refused when the session is made, not blamed on a peer later.
func TestSignShareWithoutPaillierParams(t *testing.T) {
	shares := loadShares(t)
	for i := range shares["custodian"].Data.NTildej {
		shares["custodian"].Data.NTildej[i] = nil
	}
	_, err := NewSignSession(SignConfig{Config: testConfig(DeriveSessionID(Sign, []byte("no params")), "custodian", time.Minute),
		Share: shares["custodian"], Signers: []string{"custodian", "exchange"}})
	if !isErr(err, ErrConfig) {
		t.Fatalf("got %v, want ErrConfig", err)
	}
}
