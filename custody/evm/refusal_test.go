package evm_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
)

// TestRefusals: each check of a signer, against its own policy and its own
// geth node, refuses a bad plan with its reason, before any signing session
// starts and without holding the nonce (../shared/SECURITY.md scenario 8: a request
// that does not match policy is refused by each node on its own; 26: what
// the chain says is read by each signer itself; 27: one nonce, one open
// request, as one outpoint).
func TestRefusals(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	good := release("req-good", e.owner.Hex(), "100")
	coord := e.node(t, e.cfg, e.party, evm.NewNonceBook())
	plan, err := coord.Plan(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	other := e.chain.DeployToken(t, "Other", "OTH", 6) // a real ERC-20, not on the allowlist
	stranger := common.HexToAddress("0x000000000000000000000000000000000000dEaD")

	cases := []struct {
		name   string
		want   evm.Reason
		cfg    func(*evm.Config)
		party  func(*custody.Policy)
		req    func(*evm.Request)
		plan   func(*evm.Plan)
		before func(*evm.NonceBook)
	}{
		{name: "plan for another chain ID", want: evm.ReasonChainID,
			plan: func(p *evm.Plan) { p.ChainID = 1 }},
		{name: "policy's chain ID is not its node's", want: evm.ReasonChainID,
			cfg:   func(c *evm.Config) { c.ChainID = 1 },
			party: func(p *custody.Policy) { p.Assets[0].ChainID = 1 },
			plan:  func(p *evm.Plan) { p.ChainID = 1 }},
		{name: "unknown token symbol", want: evm.ReasonToken,
			req: func(r *evm.Request) { r.Asset = "OTH" }},
		{name: "plan calls a token not on the allowlist", want: evm.ReasonToken,
			plan: func(p *evm.Plan) { p.To = other }},
		{name: "contract decimals differ from the policy", want: evm.ReasonDecimals,
			party: func(p *custody.Policy) { p.Assets[0].Decimals = 8 },
			// the coordinator, configured alike, planned 100 × 10^8
			plan: func(p *evm.Plan) { p.Data, _ = evm.TransferData(e.owner, big.NewInt(10_000_000_000)) }},
		{name: "amount over balance", want: evm.ReasonBalance,
			req: func(r *evm.Request) { r.Amount = "5000.000001" },
			plan: func(p *evm.Plan) {
				p.Data, _ = evm.TransferData(e.owner, big.NewInt(5_000_000_001))
			}},
		{name: "amount over the asset cap", want: evm.ReasonAmount,
			party: func(p *custody.Policy) { p.Assets[0].MaxAmount = 99_000_000 }},
		{name: "plan moves more than the request", want: evm.ReasonAmount,
			plan: func(p *evm.Plan) { p.Data, _ = evm.TransferData(e.owner, big.NewInt(100_000_001)) }},
		{name: "max fee over cap", want: evm.ReasonFeeCap,
			plan: func(p *evm.Plan) { p.MaxFeePerGas = new(big.Int).SetUint64(e.cfg.MaxFeePerGasWei + 1) }},
		{name: "priority fee over cap", want: evm.ReasonPriorityFee,
			plan: func(p *evm.Plan) { p.MaxPriorityFeePerGas = new(big.Int).SetUint64(e.cfg.MaxPriorityFeePerGasWei + 1) }},
		{name: "gas limit over cap", want: evm.ReasonGasLimit,
			plan: func(p *evm.Plan) { p.Gas = e.cfg.MaxGas + 1 }},
		{name: "gas limit under the node's estimate", want: evm.ReasonGasLimit,
			plan: func(p *evm.Plan) { p.Gas = 21000 }},
		{name: "nonce held by another open request", want: evm.ReasonNonceHeld,
			before: func(b *evm.NonceBook) {
				if err := b.Hold(e.acct.Address, plan.Nonce, "req-other"); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "nonce gap", want: evm.ReasonNonceGap,
			plan: func(p *evm.Plan) { p.Nonce += 5 }},
		{name: "recipient not allowed", want: evm.ReasonRecipient,
			req:  func(r *evm.Request) { r.To = stranger.Hex() },
			plan: func(p *evm.Plan) { p.Data, _ = evm.TransferData(stranger, big.NewInt(100_000_000)) }},
		{name: "liquidation to the owner, not the liquidation address", want: evm.ReasonRecipient,
			req: func(r *evm.Request) { r.Kind = custody.KindLiquidation }},
		{name: "plan pays another recipient than the request", want: evm.ReasonRecipient,
			plan: func(p *evm.Plan) { p.Data, _ = evm.TransferData(e.liq, big.NewInt(100_000_000)) }},
		{name: "plan from another account", want: evm.ReasonPlan,
			plan: func(p *evm.Plan) { p.Path, p.From = "m/0/8", stranger }},
		{name: "negative priority fee", want: evm.ReasonPlan,
			plan: func(p *evm.Plan) { p.MaxPriorityFeePerGas = big.NewInt(-1) }},
		{name: "fee missing", want: evm.ReasonPlan,
			plan: func(p *evm.Plan) { p.MaxFeePerGas = nil }},
		{name: "plan carries value with a token transfer", want: evm.ReasonPlan,
			plan: func(p *evm.Plan) { p.Value = big.NewInt(1) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, party := e.cfg, clonePolicy(e.party)
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			if c.party != nil {
				c.party(&party)
			}
			req, p := good, clonePlan(plan)
			if c.req != nil {
				c.req(&req)
			}
			if c.plan != nil {
				c.plan(p)
			}
			book := evm.NewNonceBook()
			if c.before != nil {
				c.before(book)
			}
			signer := e.node(t, cfg, party, book)
			before := e.signers.Load()
			tx, err := signer.Sign(ctx, req, p, thresholdSigner(t, e.shares, &e.signers))
			if got := evm.ReasonOf(err); got != c.want || tx != nil {
				t.Fatalf("got %v (reason %q), tx %v; want refusal %q", err, got, tx != nil, c.want)
			}
			if n := e.signers.Load() - before; n != 0 {
				t.Fatalf("%d signing sessions started for a refused plan", n)
			}
			if id, held, _ := book.Holder(e.acct.Address, p.Nonce); held && id == req.ID {
				t.Fatal("a refused plan holds its nonce")
			}
		})
	}

	// Control: the same checks pass the unmodified plan (so each case above
	// fails for its own reason), and the coordinator's planning refuses the
	// bad requests too.
	t.Run("control", func(t *testing.T) {
		signer := e.node(t, e.cfg, e.party, evm.NewNonceBook())
		if _, err := signer.Authorize(ctx, good, clonePlan(plan)); err != nil {
			t.Fatalf("the good plan is refused: %v", err)
		}
		for _, r := range []evm.Request{
			release("r-bal", e.owner.Hex(), "5000.000001"),
			release("r-to", stranger.Hex(), "1"),
			{ID: "r-tok", Kind: custody.KindRelease, Account: "acct-1", Asset: "OTH", To: e.owner.Hex(), Amount: "1"},
		} {
			if p, err := coord.Plan(ctx, r); err == nil || evm.ReasonOf(err) == "" {
				t.Errorf("Plan(%s) = %v, %v; want a refusal", r.ID, p, err)
			}
		}
	})
}

// TestPlanFeeCapBelowBaseFee: a coordinator whose fee cap is below the
// chain's base fee plus tip refuses to plan (../shared/SECURITY.md scenario 8).
func TestPlanFeeCapBelowBaseFee(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := e.cfg
	cfg.MaxFeePerGasWei, cfg.MaxPriorityFeePerGasWei = 1, 1
	coord := e.node(t, cfg, e.party, evm.NewNonceBook())
	if _, err := coord.Plan(ctx, release("r-1", e.owner.Hex(), "1")); evm.ReasonOf(err) != evm.ReasonFeeCap {
		t.Fatalf("got %v, want %s", err, evm.ReasonFeeCap)
	}
}

// TestNonceClash: two open requests of one account get different nonces
// from the coordinator, a partner refuses the second request's plan at the
// first one's nonce, and the first request's plan at a second nonce: one
// request, one nonce, so it cannot be paid twice (../shared/SECURITY.md scenario 27).
func TestNonceClash(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	coordBook, partnerBook := evm.NewNonceBook(), evm.NewNonceBook()
	coord := e.node(t, e.cfg, e.party, coordBook)
	partner := e.node(t, e.cfg, e.party, partnerBook)
	a, b := release("req-a", e.owner.Hex(), "1"), release("req-b", e.owner.Hex(), "2")
	pa, err := coord.Plan(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coord.Authorize(ctx, a, pa); err != nil {
		t.Fatal(err)
	}
	pb, err := coord.Plan(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if pb.Nonce != pa.Nonce+1 {
		t.Fatalf("second plan nonce %d, want %d", pb.Nonce, pa.Nonce+1)
	}
	if _, err := partner.Authorize(ctx, a, pa); err != nil {
		t.Fatal(err)
	}
	clash := clonePlan(pb)
	clash.Nonce = pa.Nonce
	before := e.signers.Load()
	if _, err := partner.Sign(ctx, b, clash, thresholdSigner(t, e.shares, &e.signers)); evm.ReasonOf(err) != evm.ReasonNonceHeld {
		t.Fatalf("got %v, want %s", err, evm.ReasonNonceHeld)
	}
	if e.signers.Load() != before {
		t.Fatal("a signing session started for the clashing plan")
	}
	// One request, one nonce: req-a moved to another nonce could be paid twice.
	moved := clonePlan(pa)
	moved.Nonce = pa.Nonce + 1 // free, and no gap: only "one request, one nonce" refuses it
	if _, err := partner.Authorize(ctx, a, moved); evm.ReasonOf(err) != evm.ReasonNonceHeld {
		t.Fatalf("req-a at a second nonce: %v, want %s", err, evm.ReasonNonceHeld)
	}
	if again, err := coord.Plan(ctx, a); err != nil || again.Nonce != pa.Nonce {
		t.Fatalf("re-planning req-a: %v, %v; want its nonce %d", again, err, pa.Nonce)
	}
	partnerBook.Release("req-a") // req-a ended unpaid: its nonce is free again
	if _, err := partner.Authorize(ctx, b, clash); err != nil {
		t.Fatalf("after req-a is released: %v", err)
	}
}

func clonePlan(p *evm.Plan) *evm.Plan {
	c := *p
	c.Value = new(big.Int).Set(p.Value)
	c.MaxFeePerGas = new(big.Int).Set(p.MaxFeePerGas)
	c.MaxPriorityFeePerGas = new(big.Int).Set(p.MaxPriorityFeePerGas)
	c.Data = append([]byte(nil), p.Data...)
	return &c
}

func clonePolicy(p custody.Policy) custody.Policy {
	p.Assets = append([]custody.Asset(nil), p.Assets...)
	p.Accounts = append([]custody.Account(nil), p.Accounts...)
	return p
}
