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

// End to end on btcd regtest, through three Triad nodes holding shares of
// the fixture key, each with its custody service and settler: every node
// derives the same custody addresses from its own share; and a
// coordinator that built an emergency unfreeze's transaction differently
// (another output, a higher fee, change elsewhere), or rewrote the
// request to pay an attacker, is refused by both honest nodes' one signing
// decision: nothing is signed, nothing reaches the chain. (The release,
// liquidation and unfreeze paid through the service:
// TestServiceSettlementRegtest.)
func TestSettlementRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd and runs threshold signatures")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newWorld(t)
	chain := regtest(ctx, t, w.pool)
	evil := &switchable{}
	c, settlers := settledClusterNodes(t, w, chain.Client, nil, func(p custody.Party, next node.Authorizer) node.Authorizer {
		if p == custody.Exchange {
			evil.honest = next
			return evil
		}
		return next
	})

	// Every node derives the same custody addresses from its own share.
	for p, s := range settlers {
		for path, want := range map[string]string{"": w.pool, clientPath: w.client} {
			got, err := s.Address(ctx, fixtures.KeyID, path)
			if err != nil || got != want {
				t.Fatalf("%s derives %q for path %q, want %s (%v)", p, got, path, want, err)
			}
		}
	}

	// A dishonest coordinator: the exchange signs whatever it likes and
	// proposes digests of transactions built its own way for the genuine
	// request, an unfreeze of the pool to its owner. Both honest nodes
	// compute their own digests and refuse; no session starts.
	draft := unfreeze(w, 15*btcutil.SatoshiPerBitcoin, 2)
	draft.Account, draft.ChildPath, draft.Destination = "pool", "", w.client
	unf, err := settlers[custody.Regulator].ChooseInputs(ctx, draft.Normalize(), nil)
	if err != nil {
		t.Fatal(err)
	}
	unf = unf.Normalize()
	uplan, err := settlers[custody.Regulator].Plan(ctx, unf)
	if err != nil {
		t.Fatal(err)
	}
	evil.evil.Store(true)
	n := c.Members[custody.Exchange].Node
	tampered := map[string]func(*btc.Spend){
		"changed output":       func(sp *btc.Spend) { sp.Outputs[0].Address = w.attacker },
		"higher fee":           func(sp *btc.Spend) { sp.FeeRate = 45; sp.MaxFee = btcutil.SatoshiPerBitcoin },
		"wrong change address": func(sp *btc.Spend) { sp.ChangeAddress = w.attacker },
	}
	for name, f := range tampered {
		d := tamperedDigest(t, uplan.Spend, f)
		rid := custody.SessionName{Request: unf.ID(), Attempt: "evil-" + strings.ReplaceAll(name, " ", "-")}.String()
		_, err := n.Sign(ctx, node.SignRequest{KeyID: fixtures.KeyID, RequestID: rid,
			Digest: d, Payload: unf.Canonical(), Partner: "custodian"})
		if !errors.Is(err, node.ErrNoSigners) || !strings.Contains(err.Error(), "is not the one this node computes") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// A request rewritten to pay the attacker is refused by policy.
	bent := unf
	bent.Destination = w.attacker
	bent.IdempotencyKey = "bent"
	bent = bent.Normalize()
	bd, err := settlers[custody.Exchange].Digests(ctx, unf) // the genuine digest, the bent payload
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.Sign(ctx, node.SignRequest{KeyID: fixtures.KeyID, RequestID: custody.SessionName{Request: bent.ID(), Attempt: "evil-bent"}.String(),
		Digest: bd[0], Payload: bent.Canonical(), Partner: "regulator"})
	if !errors.Is(err, node.ErrNoSigners) || !strings.Contains(err.Error(), "destination") {
		t.Fatalf("bent request: %v", err)
	}
	for _, p := range []custody.Party{custody.Custodian, custody.Regulator} {
		if n := c.Members[p].Node.Counters()["declined_sign"]; n < 3 {
			t.Fatalf("%s declined %d proposals", p, n)
		}
	}
	evil.evil.Store(false)
	chain.Generate(t, 1)
	if b := balanceOf(ctx, t, chain, w.attacker); b != 0 {
		t.Fatalf("attacker got %d", b)
	}
	if _, err := chain.Client.Confirmations(ctx, &chainhash.Hash{1}); !errors.Is(err, btc.ErrNotFound) {
		t.Fatalf("unknown txid: %v", err)
	}
}
