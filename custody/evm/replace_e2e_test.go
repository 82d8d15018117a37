package evm_test

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"

	"github.com/triad-custody/triad/custody/evm"
)

// TestReplaceStuckTransfer (issue 12, ../shared/SECURITY.md scenarios 8 and 27): a
// release signed with a max fee under the base fee sits in geth's pool
// unmined. Only a replacement request for the same transfer, at the same
// nonce with both fee caps at least 10% higher and under the caps, is
// signed for it: a smaller bump, another amount, a cap over the policy,
// and the same plan outside the replacement path are refused before any
// signing session. The replacement is mined; the stuck transaction never
// is, and the owner is paid once.
func TestReplaceStuckTransfer(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	coord := e.node(t, e.cfg, e.party, evm.NewNonceBook())
	partnerBook := evm.NewNonceBook()
	wide := e.cfg // the partner's tip cap leaves room for bumping the coordinator's capped tip
	wide.MaxPriorityFeePerGasWei *= 5
	partner := e.node(t, wide, e.party, partnerBook)
	reqA := release("req-a", e.owner.Hex(), "10")
	planA, err := coord.Plan(ctx, reqA)
	if err != nil {
		t.Fatal(err)
	}
	// Under any base fee: an empty block lowers it by an eighth, rounded
	// down, so it never falls below 7 wei; geth --dev keeps sealing.
	planA.MaxFeePerGas, planA.MaxPriorityFeePerGas = big.NewInt(6), big.NewInt(6)
	txA, err := partner.Sign(ctx, reqA, planA, thresholdSigner(t, e.shares, &e.signers))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := partner.Broadcast(ctx, txA); err != nil {
		t.Fatal(err)
	}
	e.chain.Fund(t, e.liq, big.NewInt(1)) // a block is mined after it; it is not in it
	if _, err := e.chain.Client.TransactionReceipt(ctx, txA.Hash()); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("the stuck transaction: receipt %v", err)
	}
	if pending, err := e.chain.Client.PendingNonceAt(ctx, e.acct.Address); err != nil || pending != planA.Nonce+1 {
		t.Fatalf("pending nonce %d, %v; want %d (the stuck transaction in the pool)", pending, err, planA.Nonce+1)
	}
	stuck := evm.Stuck{Request: reqA, Plan: planA}
	reqB := release("req-b", e.owner.Hex(), "10")
	planB, err := coord.PlanReplacement(ctx, reqB, stuck)
	if err != nil {
		t.Fatal(err)
	}
	if planB.Nonce != planA.Nonce || planB.MaxFeePerGas.Cmp(big.NewInt(7)) < 0 || planB.MaxPriorityFeePerGas.Cmp(big.NewInt(7)) < 0 {
		t.Fatalf("replacement plan nonce %d fees %s/%s", planB.Nonce, planB.MaxFeePerGas, planB.MaxPriorityFeePerGas)
	}
	small := clonePlan(planB)
	small.MaxFeePerGas, small.MaxPriorityFeePerGas = big.NewInt(6), big.NewInt(6) // 6.6 is 10% over 6
	overCap := clonePlan(planB)
	overCap.MaxFeePerGas = new(big.Int).Add(new(big.Int).SetUint64(e.cfg.MaxFeePerGasWei), big.NewInt(1))
	reqC := release("req-c", e.owner.Hex(), "11")
	planC := clonePlan(planB)
	planC.Request = reqC.ID
	before := e.signers.Load()
	for name, c := range map[string]struct {
		req  evm.Request
		plan *evm.Plan
		want evm.Reason
	}{
		"a bump under 10%":     {reqB, small, evm.ReasonReplace},
		"a fee over the cap":   {reqB, overCap, evm.ReasonFeeCap},
		"another amount":       {reqC, planC, evm.ReasonReplace},
		"the stuck plan again": {reqB, func() *evm.Plan { p := clonePlan(planA); p.Request = reqB.ID; return p }(), evm.ReasonReplace},
	} {
		if _, err := partner.AuthorizeReplacement(ctx, c.req, c.plan, stuck); evm.ReasonOf(err) != c.want {
			t.Errorf("%s: %v, want %s", name, err, c.want)
		}
	}
	// Outside the replacement path the nonce is the stuck request's.
	if _, err := partner.Authorize(ctx, reqB, planB); evm.ReasonOf(err) != evm.ReasonNonceHeld {
		t.Fatalf("the replacement as a new request: %v, want %s", err, evm.ReasonNonceHeld)
	}
	if id, _, _ := partnerBook.Holder(e.acct.Address, planA.Nonce); id != reqA.ID || e.signers.Load() != before {
		t.Fatalf("after the refusals the nonce is held by %q; %d sessions", id, e.signers.Load()-before)
	}
	signing, err := partner.AuthorizeReplacement(ctx, reqB, planB, stuck)
	if err != nil {
		t.Fatal(err)
	}
	r, s, err := thresholdSigner(t, e.shares, &e.signers)(ctx, signing)
	if err != nil {
		t.Fatal(err)
	}
	txB, err := evm.Finalize(planB, r, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := partner.Broadcast(ctx, txB); err != nil {
		t.Fatalf("geth refuses the replacement: %v", err)
	}
	rc, err := e.chain.WaitReceipt(ctx, txB.Hash())
	if err != nil || rc.Status != 1 {
		t.Fatalf("replacement receipt %v, %v", rc, err)
	}
	if _, err := e.chain.Client.TransactionReceipt(ctx, txA.Hash()); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("the stuck transaction was mined too: %v", err)
	}
	if id, _, _ := partnerBook.Holder(e.acct.Address, planA.Nonce); id != reqB.ID {
		t.Fatalf("the nonce is held by %q, want the replacement", id)
	}
	bal, err := evm.TokenBalance(ctx, e.chain.Client, e.token, e.owner)
	if err != nil || bal.Cmp(big.NewInt(10_000_000)) != 0 {
		t.Fatalf("owner holds %v, %v; want 10 TUSD once", bal, err)
	}
	var transfers int
	for _, l := range rc.Logs {
		if l.Address == e.token && l.Topics[0] == evm.TransferEvent() && common.BytesToAddress(l.Topics[2].Bytes()) == e.owner {
			transfers++
		}
	}
	if transfers != 1 {
		t.Fatalf("%d Transfer logs to the owner", transfers)
	}
	// Mined: the stuck request's nonce is used; nothing replaces it again.
	reqD := release("req-d", e.owner.Hex(), "10")
	planD := clonePlan(planB)
	planD.Request, planD.MaxFeePerGas, planD.MaxPriorityFeePerGas = reqD.ID, bumpedFee(planB.MaxFeePerGas), bumpedFee(planB.MaxPriorityFeePerGas)
	if _, err := partner.AuthorizeReplacement(ctx, reqD, planD, evm.Stuck{Request: reqB, Plan: planB}); evm.ReasonOf(err) != evm.ReasonNonceUsed {
		t.Fatalf("replacing a mined transaction: %v, want %s", err, evm.ReasonNonceUsed)
	}
}

// bumpedFee is v raised by more than 10%.
func bumpedFee(v *big.Int) *big.Int {
	b := new(big.Int).Div(new(big.Int).Mul(v, big.NewInt(11)), big.NewInt(10))
	return b.Add(b, big.NewInt(1))
}
