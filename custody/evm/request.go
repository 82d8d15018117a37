package evm

import (
	"context"
	"fmt"
	"math/big"

	"github.com/triad-custody/triad/custody"
)

// Choices is the part of p that travels in the typed request
// (custody.EVMPlan): what the coordinator chose from its own EVM node.
// Every signer rebuilds the rest from the request (PlanOf).
func (p *Plan) Choices() *custody.EVMPlan {
	return &custody.EVMPlan{ChainID: p.ChainID, Nonce: p.Nonce, Gas: p.Gas,
		MaxFeePerGas: p.MaxFeePerGas.String(), MaxPriorityFeePerGas: p.MaxPriorityFeePerGas.String()}
}

// PlanCustody is the coordinator's side for a typed custody request:
// Plan, returned as r carrying its EVM plan (custody.Request.EVM).
func (c *Chain) PlanCustody(ctx context.Context, r custody.Request) (custody.Request, error) {
	req, err := c.RequestOf(r)
	if err != nil {
		return r, err
	}
	p, err := c.Plan(ctx, req)
	if err != nil {
		return r, err
	}
	return r.WithEVMPlan(p.Choices()), nil
}

// PlanOf rebuilds, from this node's own policy and keys, the transaction
// that r with its EVM plan means: the paying account, the token contract
// and the transfer call come from r and the policy, only the nonce, fee
// caps and gas limit from r.EVM. It checks nothing on the EVM node
// (Check and Authorize do); a request without an EVM plan, or one whose
// choices no transaction carries, is refused.
func (c *Chain) PlanOf(r custody.Request) (Request, *Plan, error) {
	if r.EVM == nil {
		return Request{}, nil, refuse(ReasonPlan, "request %.12s carries no EVM plan", r.ID())
	}
	req, err := c.RequestOf(r)
	if err != nil {
		return Request{}, nil, err
	}
	in, err := c.resolve(req)
	if err != nil {
		return Request{}, nil, err
	}
	maxFee, ok1 := new(big.Int).SetString(r.EVM.MaxFeePerGas, 10)
	tip, ok2 := new(big.Int).SetString(r.EVM.MaxPriorityFeePerGas, 10)
	if !ok1 || !ok2 {
		return Request{}, nil, refuse(ReasonPlan, "fee caps %q, %q are not decimal integers", clip(r.EVM.MaxFeePerGas), clip(r.EVM.MaxPriorityFeePerGas))
	}
	p := &Plan{Request: req.ID, KeyID: in.keyID, Path: in.account.Path, From: in.account.Address, ChainID: r.EVM.ChainID,
		Nonce: r.EVM.Nonce, To: in.to, Value: in.value, Data: in.data, Gas: r.EVM.Gas, MaxFeePerGas: maxFee, MaxPriorityFeePerGas: tip}
	if err := p.wellFormed(); err != nil {
		return Request{}, nil, err
	}
	return req, p, nil
}

// CheckCustody checks r's EVM plan against this node's policy and its own
// EVM node (Check) without holding anything.
func (c *Chain) CheckCustody(ctx context.Context, r custody.Request) error {
	req, p, err := c.PlanOf(r)
	if err != nil {
		return err
	}
	return c.Check(ctx, req, p)
}

// HoldCustody holds the nonce of r's EVM plan for r in this node's
// store, checking nothing on the EVM node: the signer calls it once it
// decided to sign the plan it checked (CheckCustody), never before, so a
// request it refuses or waits on holds no nonce here. A nonce another
// request holds, or another nonce r holds, is a *Refusal (ReasonNonceHeld).
func (c *Chain) HoldCustody(r custody.Request) error {
	req, p, err := c.PlanOf(r)
	if err != nil {
		return err
	}
	return c.Nonces.Hold(p.From, p.Nonce, req.ID)
}

// AuthorizeCustody is Authorize for a typed request with its EVM plan:
// every check, then the nonce held for r in this node's store, then what
// to sign. A refusal holds nothing and signs nothing.
func (c *Chain) AuthorizeCustody(ctx context.Context, r custody.Request) (*Signing, *Plan, error) {
	req, p, err := c.PlanOf(r)
	if err != nil {
		return nil, nil, err
	}
	s, err := c.Authorize(ctx, req, p)
	if err != nil {
		return nil, nil, err
	}
	return s, p, nil
}

// FinalizeCustody is Finalize for a typed request with its EVM plan: the
// plan is rebuilt here (PlanOf), never taken from a peer.
func (c *Chain) FinalizeCustody(r custody.Request, sig, s *big.Int) (txHash string, raw []byte, err error) {
	_, p, err := c.PlanOf(r)
	if err != nil {
		return "", nil, err
	}
	tx, err := Finalize(p, sig, s)
	if err != nil {
		return "", nil, err
	}
	raw, err = tx.MarshalBinary()
	if err != nil {
		return "", nil, fmt.Errorf("%w: encoding: %w", ErrSignature, err)
	}
	return tx.Hash().Hex(), raw, nil
}
