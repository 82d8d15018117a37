package settle_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/settle"
)

// memChain is a Bitcoin node's UTXO set in memory: what gettxout answers.
// Unit tests of the code above settle.Chain use it; the regtest suites run
// the same code against btcd.
type memChain struct {
	mu    sync.Mutex
	utxos map[wire.OutPoint]btc.TxOut
}

func newMemChain() *memChain { return &memChain{utxos: map[wire.OutPoint]btc.TxOut{}} }

func outpoint(t testing.TB, in custody.Input) wire.OutPoint {
	t.Helper()
	h, err := chainhash.NewHashFromStr(in.TxID)
	if err != nil {
		t.Fatal(err)
	}
	return wire.OutPoint{Hash: *h, Index: in.Vout}
}

// fund records in as an unspent output of address with confs confirmations.
func (c *memChain) fund(t testing.TB, in custody.Input, address string, confs int64) {
	t.Helper()
	script, err := btc.DecodeAddress(address, network)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.utxos[outpoint(t, in)] = btc.TxOut{Value: int64(in.Value), PkScript: script, Confirmations: confs, Mature: true}
}

func (c *memChain) TxOut(_ context.Context, op wire.OutPoint) (*btc.TxOut, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.utxos[op]
	if !ok {
		return nil, fmt.Errorf("looking up %v: %w", op, btc.ErrNotFound)
	}
	return &o, nil
}

func (c *memChain) ListUnspent(_ context.Context, address string, minConf int64) ([]btc.Unspent, error) {
	script, err := btc.DecodeAddress(address, network)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []btc.Unspent
	for op, o := range c.utxos {
		if string(o.PkScript) == string(script) && o.Confirmations >= minConf {
			out = append(out, btc.Unspent{UTXO: btc.UTXO{OutPoint: op, Value: o.Value, PkScript: o.PkScript}, Confirmations: o.Confirmations})
		}
	}
	return out, nil
}

func (c *memChain) Broadcast(context.Context, *wire.MsgTx) (*chainhash.Hash, error) {
	return nil, errors.New("memChain does not broadcast")
}

func (c *memChain) Confirmations(context.Context, *chainhash.Hash) (int64, error) {
	return 0, btc.ErrNotFound
}

// ../shared/SECURITY.md scenario 26 (issue 9 item 1): the values, scripts and state of a plan's
// inputs are facts each signer reads from its own Bitcoin node. Two
// requests claiming other values for the same outpoints build one txid
// whose signatures would pay the difference to miners: every signer
// refuses a plan that differs from its chain, and a node without a
// Bitcoin node signs no spend.
func TestCheckInputsAgainstOwnChain(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	chain := newMemChain()
	a, b := coin("a", 0, 50_000_000), coin("b", 0, 50_000_000)
	chain.fund(t, a, w.pool, 3)
	chain.fund(t, b, w.pool, 3)
	s := newSettler(t, w, "exchange", keysOf(t, "exchange"), chain)
	good := release(w, 60_000_000, 5, a, b)
	if err := s.CheckInputs(ctx, good); err != nil {
		t.Fatalf("a plan that matches the chain: %v", err)
	}
	inflated := b
	inflated.Value = 140_000_000 // the claim that would pay ~0.9 BTC to miners
	notOurs := coin("c", 0, 50_000_000)
	chain.fund(t, notOurs, w.attacker, 3)
	young := coin("d", 0, 50_000_000)
	chain.fund(t, young, w.pool, 0)
	for name, c := range map[string]struct {
		in   custody.Input
		want string
	}{
		"value differs from the chain": {inflated, "value 50000000 sat, the plan says 140000000"},
		"coin of another script":       {notOurs, "another script"},
		"unknown or spent coin":        {coin("e", 0, 50_000_000), "not an unspent output"},
		"unconfirmed coin":             {young, "0 confirmation(s)"},
	} {
		err := s.CheckInputs(ctx, release(w, 60_000_000, 5, a, c.in))
		if !errors.Is(err, settle.ErrInputMismatch) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrInputMismatch (%q)", name, err, c.want)
		}
	}
	// The same check stands in a partner's decision to join (the one
	// decision, custody.DecideJoin): the digest alone would match the
	// inflated plan.
	bad := release(w, 60_000_000, 5, a, inflated)
	plan, err := s.Plan(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	if got := decideJoin(ctx, w, "exchange", s, proposalOf(bad, 0, plan.Digests[0])); got.Verdict != custody.JoinRefuse || !errors.Is(got.Cause, settle.ErrInputMismatch) {
		t.Errorf("proposal with an inflated input: %s %v", got.Verdict, got.Cause)
	}
	// No Bitcoin node, no spend.
	blind := newSettler(t, w, "exchange", keysOf(t, "exchange"), nil)
	if err := blind.CheckInputs(ctx, good); !errors.Is(err, settle.ErrNoChain) {
		t.Errorf("without a bitcoin node: %v", err)
	}
	if _, err := blind.ChooseInputs(ctx, release(w, 60_000_000, 5), nil); !errors.Is(err, settle.ErrNoChain) {
		t.Errorf("choosing without a bitcoin node: %v", err)
	}
}

// The absolute fee is capped by policy (max_fee), from the values checked
// on the chain, on top of the fee rate ceiling.
func TestPlanMaxFee(t *testing.T) {
	w := newWorld(t)
	pol := w.policyFor("exchange")
	pol.MaxFee = 500
	s, err := settle.New(settle.Config{Network: network, Policy: pol, Keys: keysOf(t, "exchange")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Plan(context.Background(), release(w, 60_000_000, 5, coin("a", 0, 50_000_000), coin("b", 0, 50_000_000)))
	if !errors.Is(err, settle.ErrPolicy) || !strings.Contains(err.Error(), "max_fee 500") {
		t.Fatalf("fee over max_fee: %v", err)
	}
}

// ChooseInputs skips coins other requests hold (the store's
// reservations), and says so when none is left.
func TestChooseInputsSkipsReserved(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	chain := newMemChain()
	a, b := coin("a", 0, 30_000_000), coin("b", 0, 20_000_000)
	chain.fund(t, a, w.pool, 1)
	chain.fund(t, b, w.pool, 1)
	s := newSettler(t, w, "exchange", keysOf(t, "exchange"), chain)
	draft := release(w, 10_000_000, 5)
	got, err := s.ChooseInputs(ctx, draft, nil)
	if err != nil || len(got.Inputs) != 1 || got.Inputs[0] != a {
		t.Fatalf("free choice: %v %v", got.Inputs, err)
	}
	if got.ID() != draft.ID() {
		t.Fatal("choosing coins changed the request ID")
	}
	holdA := func([]custody.Input) ([]custody.Input, error) { return []custody.Input{a}, nil }
	if got, err = s.ChooseInputs(ctx, draft, holdA); err != nil || len(got.Inputs) != 1 || got.Inputs[0] != b {
		t.Fatalf("with a reserved: %v %v", got.Inputs, err)
	}
	holdBoth := func([]custody.Input) ([]custody.Input, error) { return []custody.Input{a, b}, nil }
	if _, err = s.ChooseInputs(ctx, draft, holdBoth); !errors.Is(err, settle.ErrNoInputs) {
		t.Fatalf("all reserved: %v", err)
	}
}
