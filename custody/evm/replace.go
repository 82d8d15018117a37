package evm

import (
	"context"
	"fmt"
	"math/big"

	"github.com/triad-custody/triad/custody"
)

// ReplaceBumpPct is how much a replacement must raise both fee caps of
// the stuck transaction, in percent: geth's transaction pool replaces a
// pending transaction at the same nonce only from a 10% bump of its max
// fee and its tip (txpool.pricebump).
const ReplaceBumpPct = 10

// Stuck is a request whose signed transaction is pending and not mined,
// with the plan every node signed for it: what a replacement replaces.
type Stuck struct {
	Request Request
	Plan    *Plan
}

// bumped is v raised by ReplaceBumpPct, rounded up.
func bumped(v *big.Int) *big.Int {
	b := new(big.Int).Mul(v, big.NewInt(100+ReplaceBumpPct))
	b.Add(b, big.NewInt(99))
	return b.Div(b, big.NewInt(100))
}

// PlanReplacement is the coordinator's plan for req replacing stuck's
// transaction: the same nonce and the same call, with fee caps at least
// ReplaceBumpPct over the stuck ones and no lower than this node's own
// fees now. Refused (ReasonFeeCap) when the bump is over the policy caps.
func (c *Chain) PlanReplacement(ctx context.Context, req Request, stuck Stuck) (*Plan, error) {
	if err := c.sameTransfer(req, stuck); err != nil {
		return nil, err
	}
	p, err := c.Plan(ctx, req)
	if err != nil {
		return nil, err
	}
	p.Nonce = stuck.Plan.Nonce
	if b := bumped(stuck.Plan.MaxPriorityFeePerGas); p.MaxPriorityFeePerGas.Cmp(b) < 0 {
		p.MaxPriorityFeePerGas = b
	}
	if b := bumped(stuck.Plan.MaxFeePerGas); p.MaxFeePerGas.Cmp(b) < 0 {
		p.MaxFeePerGas = b
	}
	if err := c.checkFees(p); err != nil {
		return nil, err
	}
	return p, nil
}

// CheckReplacement refuses p for req unless it replaces stuck's
// transaction and nothing else: req asks for the same transfer as the
// stuck request (kind, account, asset, recipient, amount), p is the stuck
// plan's transaction at the same nonce with both fee caps raised by at
// least ReplaceBumpPct, and p passes every check Check makes on this
// node's policy and its own EVM node (fee caps under the policy caps, the
// nonce not yet used on chain), the stuck request's hold on the nonce
// aside.
func (c *Chain) CheckReplacement(ctx context.Context, req Request, p *Plan, stuck Stuck) error {
	if err := c.sameTransfer(req, stuck); err != nil {
		return err
	}
	old := stuck.Plan
	switch {
	case p.Nonce != old.Nonce || p.From != old.From || p.ChainID != old.ChainID:
		return refuse(ReasonReplace, "a replacement pays from %s at nonce %d on chain %d; the stuck transaction is %s at %d on %d",
			p.From.Hex(), p.Nonce, p.ChainID, old.From.Hex(), old.Nonce, old.ChainID)
	case p.MaxFeePerGas == nil || p.MaxPriorityFeePerGas == nil:
		return refuse(ReasonPlan, "a replacement without fee caps")
	case p.MaxFeePerGas.Cmp(bumped(old.MaxFeePerGas)) < 0 || p.MaxPriorityFeePerGas.Cmp(bumped(old.MaxPriorityFeePerGas)) < 0:
		return refuse(ReasonReplace, "fee caps %s/%s wei are not %d%% over the stuck %s/%s",
			p.MaxFeePerGas, p.MaxPriorityFeePerGas, ReplaceBumpPct, old.MaxFeePerGas, old.MaxPriorityFeePerGas)
	}
	return c.check(ctx, req, p, stuck.Request.ID)
}

// AuthorizeReplacement is Authorize for a replacement: CheckReplacement,
// then the nonce handed from the stuck request to req (Nonces.Replace),
// then what to sign. A refusal holds nothing and signs nothing.
func (c *Chain) AuthorizeReplacement(ctx context.Context, req Request, p *Plan, stuck Stuck) (*Signing, error) {
	if err := c.CheckReplacement(ctx, req, p, stuck); err != nil {
		return nil, err
	}
	if err := c.Nonces.Replace(p.From, p.Nonce, stuck.Request.ID, req.ID); err != nil {
		return nil, err
	}
	return c.signing(p)
}

// sameTransfer refuses req unless it asks for exactly the transfer the
// stuck request asked for, and the stuck plan is that transfer.
func (c *Chain) sameTransfer(req Request, stuck Stuck) error {
	old := stuck.Request
	switch {
	case stuck.Plan == nil || stuck.Plan.Request != old.ID:
		return refuse(ReasonReplace, "no signed plan of the stuck request %.12s", clip(old.ID))
	case req.ID == old.ID:
		return refuse(ReasonReplace, "a request cannot replace itself")
	case req.Kind != old.Kind || req.Account != old.Account || req.Asset != old.Asset:
		return refuse(ReasonReplace, "replacement is %s of %s %s; the stuck request %s of %s %s", req.Kind, clip(req.Account), clip(req.Asset), old.Kind, clip(old.Account), clip(old.Asset))
	}
	in, err := c.resolve(req)
	if err != nil {
		return err
	}
	oldIn, err := c.resolve(old)
	if err != nil {
		return err
	}
	if in.recipient != oldIn.recipient || in.amount.Cmp(oldIn.amount) != 0 {
		return refuse(ReasonReplace, "replacement pays %s to %s; the stuck request %s to %s", in.amount, in.recipient.Hex(), oldIn.amount, oldIn.recipient.Hex())
	}
	// The stuck plan must be the stuck request's own transfer, so the
	// replacement moves what was signed, to whom it was signed.
	return oldIn.matches(old, stuck.Plan)
}

// StuckOf is the stuck side of a replacement from the stuck custody
// request r with the EVM plan its signature covers (this node's own
// record of it), rebuilt here (PlanOf).
func (c *Chain) StuckOf(r custody.Request) (Stuck, error) {
	req, p, err := c.PlanOf(r)
	if err != nil {
		return Stuck{}, err
	}
	return Stuck{Request: req, Plan: p}, nil
}

// PlanReplacementCustody is PlanReplacement for a typed custody request r
// (r.Replaces names the stuck request): r carrying its EVM plan.
func (c *Chain) PlanReplacementCustody(ctx context.Context, r custody.Request, stuck Stuck) (custody.Request, error) {
	req, err := c.RequestOf(r)
	if err != nil {
		return r, err
	}
	p, err := c.PlanReplacement(ctx, req, stuck)
	if err != nil {
		return r, err
	}
	return r.WithEVMPlan(p.Choices()), nil
}

// CheckReplacementCustody is CheckReplacement for r with its EVM plan,
// holding nothing.
func (c *Chain) CheckReplacementCustody(ctx context.Context, r custody.Request, stuck Stuck) error {
	req, p, err := c.PlanOf(r)
	if err != nil {
		return err
	}
	return c.CheckReplacement(ctx, req, p, stuck)
}

// HoldReplacementCustody hands the nonce of r's plan from the request r
// replaces (r.Replaces) to r, once this node decided to sign r after
// CheckReplacementCustody (Nonces.Replace: refused unless the replaced
// request holds exactly that nonce). It reads only this node's store.
func (c *Chain) HoldReplacementCustody(r custody.Request) error {
	req, p, err := c.PlanOf(r)
	if err != nil {
		return err
	}
	if r.Replaces == "" {
		return refuse(ReasonReplace, "request %.12s replaces nothing", req.ID)
	}
	return c.Nonces.Replace(p.From, p.Nonce, r.Replaces, req.ID)
}

// Replaced reports, for a custody request r whose transaction this node's
// EVM node has not mined, whether its nonce is used on chain all the same:
// by a replacement (the request now holding the nonce here: by), or, for
// a replacement, by the stuck transaction it was to replace. Whichever of
// the two confirms, the other is so marked.
func (c *Chain) Replaced(ctx context.Context, r custody.Request) (replaced bool, by string, err error) {
	_, p, err := c.PlanOf(r)
	if err != nil {
		return false, "", err
	}
	used, err := c.Node.NonceAt(ctx, p.From, nil)
	if err != nil {
		return false, "", fmt.Errorf("%w: nonce of %s: %w", ErrNode, p.From.Hex(), err)
	}
	if used <= p.Nonce {
		return false, "", nil
	}
	holder, held, err := c.Nonces.Holder(p.From, p.Nonce)
	switch {
	case err != nil:
		return true, "", fmt.Errorf("%w: %w", ErrNonces, err)
	case r.Replaces != "" && (!held || holder == r.ID()):
		return true, r.Replaces, nil // the stuck transaction was mined instead
	case held && holder != r.ID():
		return true, holder, nil
	}
	return true, "", nil
}
