package settle_test

import (
	"context"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/tss/fixtures"
)

// withHouse adds account "house", held by the group key itself (the
// pool's coins), liquidated to the lender like client 7.
func withHouse(w world) world {
	w.policy.Accounts = append(append([]custody.Account(nil), w.policy.Accounts...),
		custody.Account{ID: "house", KeyID: fixtures.KeyID, OwnerAddress: w.borrower, LiquidationAddress: w.lender})
	return w
}

func houseLiquidation(w world, idem string, amount, feeRate uint64, inputs ...custody.Input) custody.Request {
	r := liquidation(w, amount, feeRate)
	r.IdempotencyKey, r.Account, r.ChildPath, r.Inputs = idem, "house", "", inputs
	return r.Normalize()
}

// Issue 9 item 3: a liquidation batch's transaction, as every node builds
// it. Member i is paid at output i; each account gets its change; each
// member pays its fee share at its own rate (the first the overhead too);
// a member whose change would be dust leaves it to its fee; per-input
// digests and keys; two nodes build the same transaction; members that
// policy refuses, or a share over max_fee, refuse the batch.
func TestPlanBatch(t *testing.T) {
	ctx := context.Background()
	w := withHouse(newWorld(t))
	a := liquidation(w, btcutil.SatoshiPerBitcoin, 3)
	a.Inputs = []custody.Input{coin("a1", 0, 60_000_000), coin("a2", 1, 70_000_000)}
	b := houseLiquidation(w, "liq-b", 50_000_000, 5, coin("b1", 2, 80_000_000))
	c := houseLiquidation(w, "liq-c", 10_000_000, 2, coin("c1", 0, 10_000_500)) // change would be dust
	members := []custody.Request{a, b, c}
	sc := newSettler(t, w, "custodian", fixtureKeys{fixtureShare(t, "custodian")}, nil)
	bp, err := sc.PlanBatch(ctx, members)
	if err != nil {
		t.Fatal(err)
	}
	tx := bp.Tx
	lender, _ := btc.DecodeAddress(w.lender, network)
	clientScript, _ := btc.DecodeAddress(w.client, network)
	poolScript, _ := btc.DecodeAddress(w.pool, network)
	if len(tx.TxIn) != 4 || len(tx.TxOut) != 5 {
		t.Fatalf("%d inputs, %d outputs", len(tx.TxIn), len(tx.TxOut))
	}
	for i, m := range members {
		if string(tx.TxOut[i].PkScript) != string(lender) || tx.TxOut[i].Value != int64(m.Amount) {
			t.Fatalf("output %d does not pay member %d", i, i)
		}
	}
	if string(tx.TxOut[3].PkScript) != string(clientScript) || string(tx.TxOut[4].PkScript) != string(poolScript) {
		t.Fatal("change does not go back to each member's own account")
	}
	if tx.TxOut[3].Value != 130_000_000-int64(a.Amount)-bp.Shares[0] || tx.TxOut[4].Value != 80_000_000-int64(b.Amount)-bp.Shares[1] {
		t.Fatalf("change values %d %d with shares %v", tx.TxOut[3].Value, tx.TxOut[4].Value, bp.Shares)
	}
	// Shares: rate × own vbytes (the first with the overhead); the dust
	// change of c is its fee.
	pay, chg := btc.OutputWeight(lender), btc.OutputWeight(clientScript)
	wantA := 3 * ((btc.OverheadWeight(4, 6) + 2*btc.InputWeight + pay + chg + 3) / 4)
	wantB := 5 * ((btc.InputWeight + pay + chg + 3) / 4)
	if bp.Shares[0] != wantA || bp.Shares[1] != wantB || bp.Shares[2] != 500 {
		t.Fatalf("shares %v, want [%d %d 500]", bp.Shares, wantA, wantB)
	}
	if fee, _ := btc.Fee(tx, bp.Prevouts); fee != bp.Fee || bp.Fee != wantA+wantB+500 {
		t.Fatalf("fee %d, recorded %d", fee, bp.Fee)
	}
	if len(bp.Inputs) != 4 || bp.Inputs[0].ChildPath != clientPath || bp.Inputs[1].ChildPath != clientPath || bp.Inputs[2].ChildPath != "" {
		t.Fatalf("per-input keys %+v", bp.Inputs)
	}
	digests, err := btc.SigHashes(tx, bp.Prevouts)
	if err != nil || digests[0] != bp.Inputs[0].Digest || digests[3] != bp.Inputs[3].Digest {
		t.Fatalf("digests: %v", err)
	}
	// Another node builds the same bytes from the same members.
	ex := newSettler(t, w, "exchange", fixtureKeys{fixtureShare(t, "exchange")}, nil)
	other, err := ex.PlanBatch(ctx, members)
	if err != nil || other.Tx.TxHash() != tx.TxHash() || other.Inputs[3] != bp.Inputs[3] {
		t.Fatalf("exchange builds another batch: %v", err)
	}

	refuse := map[string]func() []custody.Request{
		"a destination policy does not allow": func() []custody.Request {
			x := b
			x.Destination = w.attacker
			return []custody.Request{a, x}
		},
		"a release in a liquidation batch": func() []custody.Request {
			return []custody.Request{a, release(w, 10_000_000, 2, coin("r", 0, 20_000_000))}
		},
		"a member without coins": func() []custody.Request { return []custody.Request{a, b.WithInputs(nil)} },
		"too many members": func() []custody.Request {
			return make([]custody.Request, custody.MaxBatchMembers+1)
		},
	}
	for name, ms := range refuse {
		if _, err := sc.PlanBatch(ctx, ms()); err == nil {
			t.Errorf("%s: batch built", name)
		}
	}
	// A fee share over max_fee refuses the batch at the node whose cap it is.
	w2 := w
	w2.policy.MaxFee = uint64(wantB) - 1
	if _, err := newSettler(t, w2, "custodian", fixtureKeys{fixtureShare(t, "custodian")}, nil).PlanBatch(ctx, members[1:2]); !errors.Is(err, settle.ErrPolicy) {
		t.Fatalf("share over max_fee: %v", err)
	}
}
