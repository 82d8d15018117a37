package tss

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"math/big"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// ../shared/SECURITY.md scenario 25, fuzzed: every field of every message type of a started
// session is mutated, checked, and (when the checks let it through) handed
// to tss-lib, which runs the receiver's next round. A crash on any
// goroutine kills the process, so every run is in a child process:
//
//   - FuzzSignFields, coverage-guided: `go test -fuzz` runs it in worker
//     processes and reports a crashed worker with its input:
//     go test ./tss -run '^$' -fuzz '^FuzzSignFields$' -fuzztime 1h -parallel 2 -timeout 0
//   - TestFieldFuzzLoop, random structure-aware mutations for any protocol,
//     in a child process; for keygen and resharing, whose fresh runs take
//     longer than the 10 s the Go fuzzer allows one input:
//     TRIAD_FIELD_FUZZ=keygen TRIAD_FIELD_FUZZ_TIME=1h go test ./tss -run '^TestFieldFuzzLoop$' -v -timeout 0
//     (sign, keygen or reshare; it logs executions and executions per second).
//   - TestFieldFuzzSeeds, in the suite: the seeds, in a child process, and
//     2000 random mutations per message type through the validation alone.
//   - TestFieldCheckFuzz (fuzz_checks_test.go): the validation alone,
//     in-process, 10^6 executions per message type in minutes; what passes
//     it is then run on started sessions as here.

// handRun drives the sessions of one protocol run by hand.
type handRun struct {
	sessions map[string]*Session // by participant
	order    []string
}

func newHandRun(t testing.TB, sessions map[string]*Session) *handRun {
	t.Helper()
	r := &handRun{sessions: sessions}
	for id := range sessions {
		r.order = append(r.order, id)
	}
	sort.Strings(r.order)
	for _, id := range r.order {
		if err := sessions[id].Start(); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	return r
}

// pump delivers every envelope until none is left. icpt sees each
// envelope once per recipient and may replace it, or hold it back (false).
func (r *handRun) pump(icpt func(to string, env Envelope) (Envelope, bool)) {
	for moved := true; moved; {
		moved = false
		for _, from := range r.order {
			for _, env := range r.sessions[from].Outbox() {
				moved = true
				for _, to := range env.To {
					dst, ok := r.sessions[to]
					if !ok {
						continue
					}
					if e, ok := icpt(to, env); ok {
						dst.Deliver(r.sessions[from].cfg.Self.Node, e)
					}
				}
			}
		}
	}
}

// fuzzTarget is one kind of envelope: a message type from one participant
// to another.
type fuzzTarget struct{ from, to, typ string }

// fieldHarness holds an honest run's transcript and how to make new runs.
type fieldHarness struct {
	fresh   func(t testing.TB) map[string]*Session
	targets []fuzzTarget
	honest  map[fuzzTarget]Envelope
	checker map[string]*Session // finished sessions by participant: parse only
	consts  []*big.Int          // values worth trying in any field
}

func newFieldHarness(t testing.TB, fresh func(t testing.TB) map[string]*Session, consts []*big.Int) *fieldHarness {
	t.Helper()
	h := &fieldHarness{fresh: fresh, honest: map[fuzzTarget]Envelope{}, checker: map[string]*Session{}}
	ss := fresh(t)
	r := newHandRun(t, ss)
	r.pump(func(to string, env Envelope) (Envelope, bool) {
		k := fuzzTarget{env.From, to, env.Type}
		if _, ok := h.honest[k]; !ok && env.Type != EchoType {
			h.honest[k] = env
		}
		return env, true
	})
	for id, s := range ss {
		if err := s.Err(); err != nil {
			t.Fatalf("honest run: %s: %v", id, err)
		}
		h.checker[id] = s
	}
	// One sender and receiver per message type (the first by name): the
	// checks and tss-lib treat every pair alike.
	byType := map[string]fuzzTarget{}
	for k := range h.honest {
		if b, ok := byType[k.typ]; !ok || k.from+"|"+k.to < b.from+"|"+b.to {
			byType[k.typ] = k
		}
	}
	for _, k := range byType {
		h.targets = append(h.targets, k)
	}
	sort.Slice(h.targets, func(i, j int) bool { return h.targets[i].typ < h.targets[j].typ })
	q := curveQ
	h.consts = append([]*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(2), q, new(big.Int).Sub(q, bigOne),
		new(big.Int).Add(q, bigOne), curveP, curveQ3, new(big.Int).Add(curveQ3, bigOne), curveQ7, maxMod}, consts...)
	return h
}

// paramConsts lists the moduli of the parties' key shares, their squares,
// a prime factor and multiples: the values that break tss-lib's arithmetic.
func paramConsts(shares map[string]*KeyShare) []*big.Int {
	var out []*big.Int
	for _, n := range testParties {
		sk := shares[n].Data.PaillierSK
		n2 := new(big.Int).Mul(sk.N, sk.N)
		out = append(out, sk.N, n2, new(big.Int).Sub(sk.N, bigOne), new(big.Int).Add(sk.N, bigOne), sk.P,
			new(big.Int).Mul(sk.P, big.NewInt(7)), new(big.Int).Sub(n2, bigOne), shares[n].Data.NTildei)
	}
	return out
}

// mutate applies the fuzzer's choice to env's payload; the same input
// always makes the same change.
func (h *fieldHarness) mutate(env Envelope, sel uint16, op uint8, data []byte) (Envelope, bool) {
	var a anypb.Any
	if proto.Unmarshal(env.Payload, &a) != nil {
		return env, false
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return env, false
	}
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	if fields.Len() == 0 {
		return env, false
	}
	fd := fields.Get(int(sel) % fields.Len())
	if fd.Kind() != protoreflect.BytesKind {
		return env, false
	}
	part := int(sel) / fields.Len()
	if fd.IsList() {
		l := r.Mutable(fd).List()
		switch {
		case op%16 == 14: // drop a part
			if l.Len() > 0 {
				parts := make([][]byte, 0, l.Len())
				for i := 0; i < l.Len(); i++ {
					if i != part%l.Len() {
						parts = append(parts, l.Get(i).Bytes())
					}
				}
				r.Clear(fd)
				nl := r.Mutable(fd).List()
				for _, p := range parts {
					nl.Append(protoreflect.ValueOfBytes(p))
				}
			}
		case op%16 == 15: // add a part
			l.Append(protoreflect.ValueOfBytes(append([]byte(nil), data...)))
		case l.Len() > 0:
			i := part % l.Len()
			l.Set(i, protoreflect.ValueOfBytes(h.change(l.Get(i).Bytes(), op, data)))
		}
	} else {
		r.Set(fd, protoreflect.ValueOfBytes(h.change(r.Get(fd).Bytes(), op, data)))
	}
	if a.MarshalFrom(m) != nil {
		return env, false
	}
	b, err := proto.Marshal(&a)
	if err != nil {
		return env, false
	}
	changed := !bytes.Equal(b, env.Payload)
	env.Payload = b
	return env, changed
}

// change is one big-integer mutation of x.
func (h *fieldHarness) change(x []byte, op uint8, data []byte) []byte {
	v, d := new(big.Int).SetBytes(x), new(big.Int).SetBytes(data)
	pick := func() *big.Int {
		if len(data) == 0 {
			return h.consts[0]
		}
		return h.consts[int(data[0])%len(h.consts)]
	}
	switch op % 16 {
	case 0:
		return append([]byte(nil), data...)
	case 1:
		return []byte{0}
	case 2:
		return nil
	case 3:
		return pick().Bytes()
	case 4:
		return v.Add(v, d).Bytes()
	case 5:
		if v.Cmp(d) >= 0 {
			return v.Sub(v, d).Bytes()
		}
		return d.Sub(d, v).Bytes()
	case 6:
		return v.Mul(v, d).Bytes()
	case 7:
		var bit uint16
		if len(data) >= 2 {
			bit = binary.BigEndian.Uint16(data) % 4200
		}
		return v.SetBit(v, int(bit), v.Bit(int(bit))^1).Bytes()
	case 8:
		return append(append([]byte(nil), x...), data...)
	case 9:
		if len(data) > 0 && len(x) > int(data[0])%(len(x)+1) {
			return x[:int(data[0])%(len(x)+1)]
		}
		return x
	case 10: // x plus a chosen value
		return v.Add(v, pick()).Bytes()
	case 11: // a multiple of a chosen value
		return d.Mul(d, pick()).Bytes()
	case 12: // the chosen value minus the given one
		c := new(big.Int).Set(pick())
		if c.Cmp(d) >= 0 {
			return c.Sub(c, d).Bytes()
		}
		return nil
	default:
		out := append([]byte(nil), x...)
		for i := range out {
			if i < len(data) {
				out[i] ^= data[i]
			}
		}
		return out
	}
}

// run is one fuzz execution: mutate one field of one envelope; the checks
// must refuse it as malformed, or tss-lib must run the receiver's next
// round on it without a panic.
func (h *fieldHarness) run(t *testing.T, sel uint16, op uint8, data []byte) bool {
	if len(h.targets) == 0 {
		t.Fatal("no targets")
	}
	tg := h.targets[int(sel)%len(h.targets)]
	sel /= uint16(len(h.targets))
	env, changed := h.mutate(h.honest[tg], sel, op, data)
	if !changed {
		return false
	}
	if _, err := h.checker[tg.to].parse(env); err != nil {
		if !isErr(err, ErrMalformed) {
			t.Fatalf("%s: refused as %v, want ErrMalformed", tg.typ, err)
		}
		return false
	}
	// The checks let it through: a fresh run, with the mutation applied
	// to the live message, held back until the run is quiet and then
	// delivered, so that the receiver runs its next round on it at once.
	r := newHandRun(t, h.fresh(t))
	var held *Envelope
	r.pump(func(to string, e Envelope) (Envelope, bool) {
		if to != tg.to || e.From != tg.from || e.Type != tg.typ || held != nil {
			return e, true
		}
		m, _ := h.mutate(e, sel, op, data)
		held = &m
		return e, false
	})
	if held == nil {
		t.Fatalf("the fresh run never sent %s from %s to %s", tg.typ, tg.from, tg.to)
	}
	victim := r.sessions[tg.to]
	victim.Deliver(r.sessions[tg.from].cfg.Self.Node, *held)
	if err := victim.Err(); err != nil {
		if !Aborts(err) {
			t.Fatalf("%s: ended with %v, want an abort naming its culprits", tg.typ, err)
		}
		if strings.Contains(err.Error(), "panicked") {
			t.Fatalf("%s: tss-lib panicked on a checked message: %v", tg.typ, err)
		}
	}
	return true
}

var fuzzing = func() bool { f := flag.Lookup("test.fuzz"); return f != nil && f.Value.String() != "" }

// fuzzSeed is one input: (sel, op, data).
type fuzzSeed struct {
	sel  uint16
	op   uint8
	data []byte
}

// seedsFor lists, for every target and every field, a zero and a chosen
// constant (refused by the checks), and with run (every target) or first
// (the first only) a one-bit change the checks let through, so that
// tss-lib runs.
func seedsFor(h *fieldHarness, run, first bool) []fuzzSeed {
	var out []fuzzSeed
	nt := uint16(len(h.targets))
	for i, tg := range h.targets {
		var a anypb.Any
		proto.Unmarshal(h.honest[tg].Payload, &a)
		m, err := a.UnmarshalNew()
		if err != nil {
			continue
		}
		nf := m.ProtoReflect().Descriptor().Fields().Len()
		for f := 0; f < nf; f++ {
			sel := uint16(i) + nt*uint16(f)
			out = append(out, fuzzSeed{sel, 1, nil}, fuzzSeed{sel, 3, []byte{byte(f*5 + i)}})
		}
		if nf > 0 && (run || (first && i == 0)) {
			out = append(out, fuzzSeed{uint16(i), 7, []byte{0, 9}})
		}
	}
	return out
}

func signHarness(t testing.TB) *fieldHarness {
	shares := loadShares(t)
	digest := sha256.Sum256([]byte("fuzz fields"))
	pair := []string{"custodian", "exchange"}
	return newFieldHarness(t, func(t testing.TB) map[string]*Session {
		return signSessions(t, shares, pair, digest, DeriveSessionID(Sign, digest[:]), time.Hour)
	}, paramConsts(shares))
}

func keygenHarness(t testing.TB) *fieldHarness {
	return newFieldHarness(t, func(t testing.TB) map[string]*Session {
		return keygenSessions(t, DeriveSessionID(Keygen, []byte("fuzz fields")))
	}, paramConsts(loadShares(t)))
}

func reshareHarness(t testing.TB) *fieldHarness {
	shares := loadShares(t)
	pub, _ := shares["custodian"].PublicKey()
	return newFieldHarness(t, func(t testing.TB) map[string]*Session {
		return reshareSessions(t, shares, DeriveSessionID(Reshare, []byte("fuzz fields")), pub.SerializeCompressed())
	}, paramConsts(shares))
}

func fuzzFields(f *testing.F, harness func(testing.TB) *fieldHarness) {
	if !fuzzing() {
		f.Skip("seeds run in a child process by TestFieldFuzzSeeds; -fuzz runs this target")
	}
	h := harness(f)
	for _, s := range seedsFor(h, true, true) {
		f.Add(s.sel, s.op, s.data)
	}
	f.Fuzz(func(t *testing.T, sel uint16, op uint8, data []byte) { h.run(t, sel, op, data) })
}

func FuzzSignFields(f *testing.F) { fuzzFields(f, signHarness) }

var harnesses = map[string]func(testing.TB) *fieldHarness{
	"sign": signHarness, "keygen": keygenHarness, "reshare": reshareHarness,
}

// TestFieldFuzzLoop is the long run for one protocol: random inputs for
// the harness until TRIAD_FIELD_FUZZ_TIME passes (seeded by
// TRIAD_FIELD_FUZZ_SEED), in a child process. Skipped unless
// TRIAD_FIELD_FUZZ names a protocol.
func TestFieldFuzzLoop(t *testing.T) {
	harness, ok := harnesses[os.Getenv("TRIAD_FIELD_FUZZ")]
	if !ok {
		t.Skip("set TRIAD_FIELD_FUZZ to sign, keygen or reshare")
	}
	d, err := time.ParseDuration(os.Getenv("TRIAD_FIELD_FUZZ_TIME"))
	if err != nil {
		t.Fatalf("TRIAD_FIELD_FUZZ_TIME: %v", err)
	}
	seed, _ := strconv.ParseInt(os.Getenv("TRIAD_FIELD_FUZZ_SEED"), 10, 64)
	out := inChild(t, func(t *testing.T) {
		h := harness(t)
		rng := rand.New(rand.NewSource(seed))
		start := time.Now()
		var execs, ran int
		for time.Since(start) < d {
			data := make([]byte, rng.Intn(40))
			rng.Read(data)
			sel, op := uint16(rng.Intn(1<<16)), uint8(rng.Intn(16))
			t.Logf("exec %d: sel %d op %d data %x", execs, sel, op, data)
			if h.run(t, sel, op, data) {
				ran++
			}
			execs++
		}
		el := time.Since(start)
		t.Logf("summary: %d executions (%d run by tss-lib) in %s: %.2f/s", execs, ran, el.Round(time.Second), float64(execs)/el.Seconds())
	})
	if i := bytes.LastIndex(out, []byte("summary: ")); i >= 0 {
		t.Log(string(bytes.TrimSpace(out[i:])))
	}
}

// TestFieldFuzzSeeds runs the fuzz targets' seeds in a child process:
// every field of every message type set to zero and to a chosen constant,
// and for signing one change per message type (only the first under
// -short) that tss-lib runs. A fresh keygen or resharing costs minutes on
// a shared machine, so their seeds here stop at the checks (the fuzz
// targets run them all), and -short leaves them out.
func TestFieldFuzzSeeds(t *testing.T) {
	for name, harness := range harnesses {
		t.Run(name, func(t *testing.T) {
			if name != "sign" && testing.Short() {
				t.Skip("runs keygen or resharing many times; -short skips it")
			}
			inChild(t, func(t *testing.T) {
				h := harness(t)
				seeds := seedsFor(h, name == "sign" && !testing.Short(), name == "sign")
				for _, s := range seeds {
					h.run(t, s.sel, s.op, s.data)
				}
				t.Logf("%d seeds over %d targets", len(seeds), len(h.targets))
				// The validation alone, in-process, a bounded number of
				// random mutations per type (TestFieldCheckFuzz for 10^6).
				fuzzChecks(t, h, 2000, 0, 1, func(st checkStats) { t.Logf("checks: %s", st) })
			})
		})
	}
}
