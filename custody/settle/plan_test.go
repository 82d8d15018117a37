package settle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/tss/fixtures"
)

func keysOf(t testing.TB, party string) settle.KeyLoader {
	return fixtureKeys{share: fixtureShare(t, party)}
}

// Every node builds the same transaction from the same request with its
// own share and its own copy of the policy.
func TestPlanSameOnEveryNode(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	req := release(w, 60_000_000, 5, coin("a", 0, 50_000_000), coin("b", 1, 50_000_000), coin("c", 2, 10_000))
	var first *settle.Plan
	for _, p := range fixtures.Parties {
		plan, err := newSettler(t, w, p, keysOf(t, p), nil).Plan(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if first == nil {
			first = plan
			continue
		}
		if plan.TxID() != first.TxID() || len(plan.Digests) != 3 {
			t.Fatalf("%s builds %v, custodian %v", p, plan.TxID(), first.TxID())
		}
		for i := range plan.Digests {
			if plan.Digests[i] != first.Digests[i] {
				t.Fatalf("%s: digest %d differs", p, i)
			}
		}
	}
	v, err := first.View()
	if err != nil {
		t.Fatal(err)
	}
	if first.Source != w.pool || len(v.Outputs) != 2 {
		t.Fatalf("source %s, outputs %+v", first.Source, v.Outputs)
	}
	for _, o := range v.Outputs {
		switch {
		case o.Role == "destination" && (o.Address != w.client || o.Amount != 60_000_000):
			t.Fatalf("destination output %+v", o)
		case o.Role == "change" && o.Amount != 100_010_000-60_000_000-first.Fee:
			t.Fatalf("change %+v, fee %d", o, first.Fee)
		}
	}
	if first.Fee != 5*first.VSize {
		t.Fatalf("fee %d for %d vB at 5 sat/vB", first.Fee, first.VSize)
	}
	if v.PSBT == "" || v.Unsigned == "" || len(v.Inputs) != 3 {
		t.Fatalf("view %+v", v)
	}
	var sb strings.Builder
	v.Print(&sb)
	if !strings.Contains(sb.String(), w.client) {
		t.Fatalf("printed view lacks the destination:\n%s", sb.String())
	}
}

func TestPlanRefusals(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	s := newSettler(t, w, "exchange", keysOf(t, "exchange"), nil)
	in := coin("a", 0, 50_000_000)
	mod := func(f func(*custody.Request)) custody.Request {
		r := release(w, 10_000_000, 5, in)
		f(&r)
		return r
	}
	cases := []struct {
		name string
		req  custody.Request
		want error
	}{
		{"destination not the owner's", mod(func(r *custody.Request) { r.Destination = w.attacker }), settle.ErrPolicy},
		{"fee rate over the policy", mod(func(r *custody.Request) { r.FeeRate = 51 }), settle.ErrPolicy},
		{"child path not the account's", mod(func(r *custody.Request) { r.ChildPath = "m/0/8" }), settle.ErrPolicy},
		{"unknown account", mod(func(r *custody.Request) { r.Account = "nobody" }), settle.ErrPolicy},
		{"another key", mod(func(r *custody.Request) { r.KeyID = "other" }), settle.ErrPolicy},
		{"another asset", mod(func(r *custody.Request) { r.Asset = "USDC" }), settle.ErrNotSettled},
		{"no coins", mod(func(r *custody.Request) { r.Inputs = nil }), settle.ErrNoInputs},
		{"not enough coins", mod(func(r *custody.Request) { r.Amount = 50_000_000 }), btc.ErrInsufficientFunds},
		{"dust amount", mod(func(r *custody.Request) { r.Amount = 100 }), btc.ErrDust},
		{"liquidation to the owner", func() custody.Request {
			r := liquidation(w, 1_000_000, 2)
			r.Destination, r.Inputs = w.borrower, []custody.Input{in}
			return r
		}(), settle.ErrPolicy},
		{"canary", custody.Request{Kind: custody.KindCanary, KeyID: "canary", Digest: strings.Repeat("ab", 32)}, settle.ErrNotSettled},
	}
	for _, c := range cases {
		if _, err := s.Plan(ctx, c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// The effective fee rate may not pass the policy's ceiling: change that
	// would be dust goes to the fee, which a low ceiling refuses.
	tight := w
	tight.policy.MaxFeeRate = 2
	s2 := newSettler(t, tight, "exchange", keysOf(t, "exchange"), nil)
	r := release(w, 50_000_000-2*141-100, 2, in)
	if _, err := s2.Plan(ctx, r); !errors.Is(err, btc.ErrFeeTooHigh) {
		t.Fatalf("dust change over the ceiling: %v", err)
	}
}

// A transaction built differently from the request is refused with the
// specific difference.
func TestCheckTxRefusesOtherBuilds(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	s := newSettler(t, w, "regulator", keysOf(t, "regulator"), nil)
	req := release(w, 10_000_000, 5, coin("a", 0, 50_000_000))
	plan, err := s.Plan(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckTx(ctx, req, plan.Tx); err != nil {
		t.Fatalf("own build: %v", err)
	}
	dest, change := outputIndexes(t, plan)
	attackerScript, _ := btc.DecodeAddress(w.attacker, network)
	cases := []struct {
		name   string
		tamper func(tx *wire.MsgTx)
		want   error
	}{
		{"changed output", func(tx *wire.MsgTx) { tx.TxOut[dest].Value += 1000; tx.TxOut[change].Value -= 1000 }, btc.ErrOutputMismatch},
		{"higher fee", func(tx *wire.MsgTx) { tx.TxOut[change].Value -= 20_000 }, btc.ErrFeeTooHigh},
		{"wrong change address", func(tx *wire.MsgTx) { tx.TxOut[change].PkScript = attackerScript }, btc.ErrWrongChange},
		{"extra input", func(tx *wire.MsgTx) {
			tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Index: 9}, nil, nil))
		}, btc.ErrUnexpectedInput},
	}
	for _, c := range cases {
		tx := plan.Tx.Copy()
		c.tamper(tx)
		if err := s.CheckTx(ctx, req, tx); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func outputIndexes(t testing.TB, p *settle.Plan) (dest, change int) {
	t.Helper()
	v, err := p.View()
	if err != nil {
		t.Fatal(err)
	}
	dest, change = -1, -1
	for i, o := range v.Outputs {
		if o.Role == "change" {
			change = i
		} else {
			dest = i
		}
	}
	if dest < 0 || change < 0 {
		t.Fatalf("outputs %+v", v.Outputs)
	}
	return dest, change
}

// decideJoin is the one signing decision (custody.DecideJoin) of party on
// prop, with the facts its settler gathers: its own digests of the request
// and its own chain node's check of the inputs. The request is stored and
// both operators approved it, so only the settlement facts can refuse.
func decideJoin(ctx context.Context, w world, party string, s *settle.Settler, prop custody.SignProposal) custody.JoinDecision {
	digests, derr := s.Digests(ctx, prop.Request)
	st := custody.State{Progress: custody.Progress{Record: custody.Record{ID: prop.Request.ID(), Status: custody.StatusApproved},
		Approvals: map[custody.Party]custody.Endorsement{
			custody.Custodian: {Party: custody.Custodian, Stance: custody.Approve, Operator: "alice"},
			custody.Exchange:  {Party: custody.Exchange, Stance: custody.Approve, Operator: "bob"}}}}
	return custody.DecideJoin(w.policyFor(party), prop, custody.JoinFacts{Digests: digests, DigestErr: derr,
		PlanErr: s.CheckInputs(ctx, prop.Request), Stored: true, State: st, Now: created.Add(time.Minute)})
}

// proposalOf is the custodian's proposal to sign input i of req as digest.
func proposalOf(req custody.Request, i int, digest [32]byte) custody.SignProposal {
	return custody.SignProposal{KeyID: fixtures.KeyID, Session: custody.SessionName{Request: req.ID(), Input: i, Attempt: "n1"}.String(),
		Digest: digest[:], ChildPath: req.ChildPath, Participants: []custody.Party{custody.Custodian, custody.Exchange}, Request: req}
}

// The signer-side check of one threshold signature, in the one signing
// decision (../shared/SECURITY.md scenario 8): the proposal's digest must be the one this node
// computes for that input of that request.
func TestCheckProposal(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	chain := newMemChain()
	chain.fund(t, coin("a", 0, 50_000_000), w.pool, 1)
	chain.fund(t, coin("b", 0, 50_000_000), w.pool, 1)
	s := newSettler(t, w, "exchange", keysOf(t, "exchange"), chain)
	req := release(w, 60_000_000, 5, coin("a", 0, 50_000_000), coin("b", 0, 50_000_000))
	plan, err := s.Plan(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id := req.ID()
	prop := func(i int, digest [32]byte) custody.SignProposal { return proposalOf(req, i, digest) }
	for i, d := range plan.Digests {
		if got := decideJoin(ctx, w, "exchange", s, prop(i, d)); got.Verdict != custody.JoinYes || got.Session.Input != i || got.Digest != d {
			t.Fatalf("input %d: %s %q %v (%d)", i, got.Verdict, got.Reason, got.Cause, got.Session.Input)
		}
	}
	// The digest of another input, another transaction, or a bare hash.
	other := func(f func(*btc.Spend)) [32]byte { return tamperedDigest(t, plan.Spend, f) }
	bad := []struct {
		name string
		p    custody.SignProposal
	}{
		{"input 1's digest for input 0", prop(0, plan.Digests[1])},
		{"changed output", prop(0, other(func(sp *btc.Spend) { sp.Outputs[0].Amount += 1000 }))},
		{"higher fee", prop(0, other(func(sp *btc.Spend) { sp.FeeRate = 40; sp.MaxFee = 1 << 40 }))},
		{"wrong change address", prop(0, other(func(sp *btc.Spend) { sp.ChangeAddress = w.attacker }))},
		{"input out of range", prop(2, plan.Digests[0])},
		{"bare hash", prop(0, [32]byte{1})},
	}
	for _, c := range bad {
		if got := decideJoin(ctx, w, "exchange", s, c.p); got.Verdict != custody.JoinRefuse {
			t.Errorf("%s: got %s, want a refusal", c.name, got.Verdict)
		}
	}
	p := prop(0, plan.Digests[0])
	p.ChildPath = clientPath
	if got := decideJoin(ctx, w, "exchange", s, p); got.Verdict != custody.JoinRefuse {
		t.Errorf("child path not the request's: %s", got.Verdict)
	}
	p = prop(0, plan.Digests[0])
	p.Session = custody.SessionName{Request: release(w, 1, 1).ID(), Attempt: "n1"}.String()
	if got := decideJoin(ctx, w, "exchange", s, p); got.Verdict != custody.JoinRefuse {
		t.Errorf("session for another request: %s", got.Verdict)
	}
	for _, rid := range []string{id, id + "/0", id + "/x/n", id + "/01/n", id + "/-1/n", id + "/0/"} {
		p = prop(0, plan.Digests[0])
		p.Session = rid
		if got := decideJoin(ctx, w, "exchange", s, p); got.Verdict != custody.JoinRefuse {
			t.Errorf("request ID %q: %s", rid, got.Verdict)
		}
	}
	raw := custody.SignProposal{KeyID: fixtures.KeyID, Session: "drill-1", Digest: make([]byte, 32), Raw: true}
	if got := decideJoin(ctx, w, "exchange", s, raw); got.Verdict != custody.JoinRefuse || !errors.Is(got.Cause, custody.ErrRawDigestRefused) {
		t.Errorf("raw digest on a custody key: %s %v", got.Verdict, got.Cause)
	}
}

// Inputs travel with the request as its plan: validated and bounded, but
// not part of the ID, which is the caller's content alone (issue 9 item 4).
func TestRequestInputs(t *testing.T) {
	w := newWorld(t)
	a := release(w, 1000, 1, coin("a", 0, 5000))
	b := release(w, 1000, 1, coin("a", 1, 5000))
	if a.ID() != b.ID() || a.ID() != a.Base().ID() {
		t.Fatal("the coins chosen to pay a request change its ID")
	}
	if string(a.Canonical()) == string(b.Canonical()) {
		t.Fatal("the plan is not part of the canonical encoding (the signing payload)")
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, ins := range map[string][]custody.Input{
		"duplicate":  {coin("a", 0, 5000), coin("a", 0, 5000)},
		"zero value": {coin("a", 0, 0)},
		"upper hex":  {{TxID: strings.ToUpper(coin("a", 0, 1).TxID), Value: 1}},
		"short txid": {{TxID: "abcd", Value: 1}},
	} {
		r := release(w, 1000, 1, ins...)
		if err := r.Validate(); !errors.Is(err, custody.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	got, err := custody.DecodeCanonicalRequest(a.Canonical())
	if err != nil || got.ID() != a.ID() {
		t.Fatalf("round trip: %v", err)
	}
}

// tamperedDigest is input 0's sighash of the transaction built from a copy
// of spend changed by f: what a dishonest coordinator would ask to sign.
func tamperedDigest(t testing.TB, spend btc.Spend, f func(*btc.Spend)) [32]byte {
	t.Helper()
	spend.Inputs = append([]btc.UTXO(nil), spend.Inputs...)
	spend.Outputs = append([]btc.Output(nil), spend.Outputs...)
	f(&spend)
	tx, err := btc.Build(spend)
	if err != nil {
		t.Fatal(err)
	}
	d, err := btc.SigHashes(tx, spend.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	return d[0]
}
