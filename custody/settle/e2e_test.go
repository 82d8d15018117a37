package settle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/btc/btcdtest"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss/fixtures"
)

// regtest starts btcd mining to the fixture group key's custody address,
// activates segwit and matures the coinbases.
func regtest(ctx context.Context, t *testing.T, miningAddr string) *btcdtest.Node {
	t.Helper()
	n := btcdtest.Start(t, btcdtest.Options{MiningAddr: miningAddr})
	n.Mature(ctx, t)
	return n
}

func balanceOf(ctx context.Context, t *testing.T, n *btcdtest.Node, addr string) int64 {
	t.Helper()
	b, err := n.Client.Balance(ctx, addr, 1)
	if err != nil {
		t.Fatal(err)
	}
	return int64(b)
}

// settleThrough runs one request the way three Triad nodes do without the
// custody service: the coordinating node fills nothing in (the request
// names its coins), every signer checks each input's digest itself
// (settle.Authorizer), the coordinator finalises (script engine) and
// broadcasts; then one block is mined and every node records the
// confirmation from its own view.
func settleThrough(ctx context.Context, t *testing.T, chain *btcdtest.Node, nodes map[string]*member, coord, partner string, req custody.Request) (*settle.Plan, settle.Record) {
	t.Helper()
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	c := nodes[coord]
	start := time.Now()
	sigs, err := c.settler.SignAll(ctx, c.node, req, "attempt-1", partner)
	if err != nil {
		t.Fatalf("%s: signing: %v", req.Kind, err)
	}
	t.Logf("%s: %d threshold signature(s) by %s+%s in %v", req.Kind, len(sigs), coord, partner, time.Since(start).Round(time.Millisecond))
	rec, err := c.settler.Settle(ctx, req, sigs)
	if err != nil {
		t.Fatalf("%s: settling: %v", req.Kind, err)
	}
	if !rec.Broadcast || rec.Confirmations != 0 {
		t.Fatalf("%s: record after broadcast %+v", req.Kind, rec)
	}
	plan, err := c.settler.Plan(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if rec.TxID != plan.TxID().String() {
		t.Fatalf("broadcast %s, planned %v", rec.TxID, plan.TxID())
	}
	// Settling again (a restart, a retry) does not send a second transaction.
	if again, err := c.settler.Settle(ctx, req, sigs); err != nil || again.TxID != rec.TxID {
		t.Fatalf("settling again: %+v, %v", again, err)
	}
	chain.Generate(t, 1)
	for p, m := range nodes {
		r, err := m.settler.Refresh(ctx, req)
		if err != nil || r.Confirmations != 1 || r.TxID != rec.TxID {
			t.Fatalf("%s's view of %s: %+v, %v", p, req.Kind, r, err)
		}
	}
	return plan, rec
}

// End to end on btcd regtest, through three Triad nodes holding shares of
// the fixture key: a two-input collateral release from the group key's
// custody address into client 7's derived address, then a liquidation and
// an emergency unfreeze from that derived address (tss-lib key-derivation
// signing), each broadcast, mined and confirmed, with exact balances; and
// a coordinator that built the transaction differently is refused by both
// honest nodes.
func TestSettlementRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd and runs threshold signatures")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newWorld(t)
	chain := regtest(ctx, t, w.pool)
	nodes := cluster(t, w, chain.Client)

	// Every node derives the same custody addresses from its own share.
	for p, m := range nodes {
		for path, want := range map[string]string{"": w.pool, clientPath: w.client} {
			got, err := m.settler.Address(ctx, fixtures.KeyID, path)
			if err != nil || got != want {
				t.Fatalf("%s derives %q for path %q, want %s (%v)", p, got, path, want, err)
			}
		}
	}

	// 1. Collateral release: 60 BTC from the pool needs two 50 BTC coinbase
	// coins; the custodian's node picks them and they become part of the
	// request every node approves.
	draft := release(w, 60*btcutil.SatoshiPerBitcoin, 4)
	req, err := nodes["custodian"].settler.ChooseInputs(ctx, draft, nil)
	if err != nil {
		t.Fatal(err)
	}
	req = req.Normalize()
	if len(req.Inputs) != 2 {
		t.Fatalf("release picked %d coins", len(req.Inputs))
	}
	plan, _ := settleThrough(ctx, t, chain, nodes, "custodian", "exchange", req)
	if b := balanceOf(ctx, t, chain, w.client); b != 60*btcutil.SatoshiPerBitcoin {
		t.Fatalf("client balance %d", b)
	}
	change := plan.Tx.TxHash()
	coins, err := chain.Client.ListUnspent(ctx, w.pool, 1)
	if err != nil {
		t.Fatal(err)
	}
	var gotChange int64
	for _, c := range coins {
		if c.OutPoint.Hash == change {
			gotChange = c.Value
		}
	}
	if want := 100*btcutil.SatoshiPerBitcoin - 60*btcutil.SatoshiPerBitcoin - plan.Fee; gotChange != want {
		t.Fatalf("change back to the pool %d, want %d (fee %d)", gotChange, want, plan.Fee)
	}

	// 2. Liquidation from the client's derived address to the lender,
	// coordinated by the exchange with the custodian.
	liq, err := nodes["exchange"].settler.ChooseInputs(ctx, liquidation(w, 20*btcutil.SatoshiPerBitcoin, 3), nil)
	if err != nil {
		t.Fatal(err)
	}
	liq = liq.Normalize()
	lplan, _ := settleThrough(ctx, t, chain, nodes, "exchange", "custodian", liq)
	if b := balanceOf(ctx, t, chain, w.lender); b != 20*btcutil.SatoshiPerBitcoin {
		t.Fatalf("lender balance %d", b)
	}
	clientLeft := 40*btcutil.SatoshiPerBitcoin - lplan.Fee
	if b := balanceOf(ctx, t, chain, w.client); b != clientLeft {
		t.Fatalf("client balance %d, want %d", b, clientLeft)
	}

	// 3. A dishonest coordinator: the exchange signs whatever it likes and
	// proposes digests of transactions built its own way for the genuine
	// request. Both honest nodes compute their own digests and refuse; no
	// session starts.
	unf, err := nodes["regulator"].settler.ChooseInputs(ctx, unfreeze(w, 15*btcutil.SatoshiPerBitcoin, 2), nil)
	if err != nil {
		t.Fatal(err)
	}
	unf = unf.Normalize()
	uplan, err := nodes["regulator"].settler.Plan(ctx, unf)
	if err != nil {
		t.Fatal(err)
	}
	evil := nodes["exchange"]
	evil.auth.evil.Store(true)
	tampered := map[string]func(*btc.Spend){
		"changed output":       func(sp *btc.Spend) { sp.Outputs[0].Address = w.attacker },
		"higher fee":           func(sp *btc.Spend) { sp.FeeRate = 45; sp.MaxFee = btcutil.SatoshiPerBitcoin },
		"wrong change address": func(sp *btc.Spend) { sp.ChangeAddress = w.attacker },
	}
	for name, f := range tampered {
		d := tamperedDigest(t, uplan.Spend, f)
		_, err := evil.node.Sign(ctx, node.SignRequest{KeyID: fixtures.KeyID, RequestID: settle.InputRequestID(unf.ID(), 0, "evil-"+strings.ReplaceAll(name, " ", "-")),
			Digest: d, ChildPath: clientPath, Payload: unf.Canonical(), Partner: "custodian"})
		if !errors.Is(err, node.ErrNoSigners) || !strings.Contains(err.Error(), "is not the sighash this node computes") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// A request rewritten to pay the attacker is refused by policy.
	bent := unf
	bent.Destination = w.attacker
	bent.IdempotencyKey = "bent"
	bent = bent.Normalize()
	bd, err := evil.settler.Digests(ctx, unf) // the genuine digest, the bent payload
	if err != nil {
		t.Fatal(err)
	}
	_, err = evil.node.Sign(ctx, node.SignRequest{KeyID: fixtures.KeyID, RequestID: settle.InputRequestID(bent.ID(), 0, "evil-bent"),
		Digest: bd[0], ChildPath: clientPath, Payload: bent.Canonical(), Partner: "regulator"})
	if !errors.Is(err, node.ErrNoSigners) || !strings.Contains(err.Error(), "destination") {
		t.Fatalf("bent request: %v", err)
	}
	for _, p := range []string{"custodian", "regulator"} {
		if n := nodes[p].node.Counters()["declined_sign"]; n < 3 {
			t.Fatalf("%s declined %d proposals", p, n)
		}
	}
	if b := balanceOf(ctx, t, chain, w.attacker); b != 0 {
		t.Fatalf("attacker got %d", b)
	}
	evil.auth.evil.Store(false)

	// 4. Emergency unfreeze of the client's collateral to its owner,
	// coordinated by the regulator with the custodian (the exchange is the
	// party that is gone).
	uplan2, _ := settleThrough(ctx, t, chain, nodes, "regulator", "custodian", unf)
	if uplan2.TxID() != uplan.TxID() {
		t.Fatal("plan changed between nodes")
	}
	if b := balanceOf(ctx, t, chain, w.borrower); b != 15*btcutil.SatoshiPerBitcoin {
		t.Fatalf("borrower balance %d", b)
	}
	if b := balanceOf(ctx, t, chain, w.client); b != clientLeft-15*btcutil.SatoshiPerBitcoin-uplan.Fee {
		t.Fatalf("client balance after unfreeze %d", b)
	}
	if _, err := chain.Client.Confirmations(ctx, &chainhash.Hash{1}); !errors.Is(err, btc.ErrNotFound) {
		t.Fatalf("unknown txid: %v", err)
	}
}
