package evm

import (
	"context"
	"fmt"
	"math/big"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/ethereum/go-ethereum/common"
)

// Chain settles requests on one EVM chain for one node: it plans a
// transaction from a typed request, checks a plan against the node's own
// policy and its OWN EVM node, gives the digest to sign, finalizes,
// broadcasts and tracks confirmations. It assumes accounts and nonces,
// not coins.
type Chain struct {
	Policy Policy
	Node   Node
	Nonces Nonces
	// GroupKey is the node's own view of a threshold key's group public key.
	GroupKey func(keyID string) (*btcec.PublicKey, error)
}

// Plan makes the transaction that pays req (the coordinator's side): the
// account's next nonce no other request holds, fees under the caps from
// the node's base fee and suggested tip, and a gas limit from its own
// estimate. The plan is not yet checked; Authorize checks it.
func (c *Chain) Plan(ctx context.Context, req Request) (*Plan, error) {
	in, err := c.resolve(req)
	if err != nil {
		return nil, err
	}
	if err := c.checkChainID(ctx, c.Policy.ChainID); err != nil {
		return nil, err
	}
	if err := c.checkAsset(ctx, in); err != nil {
		return nil, err
	}
	from := in.account.Address
	pending, err := c.Node.PendingNonceAt(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("%w: nonce of %s: %w", ErrNode, from.Hex(), err)
	}
	nonce, held, err := c.Nonces.HeldBy(from, req.ID) // planned before: a replacement keeps its nonce
	if err == nil && !held {
		nonce, _, err = c.Nonces.Next(from, pending)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNonces, err)
	}
	tip, maxFee, err := c.fees(ctx)
	if err != nil {
		return nil, err
	}
	est, err := c.estimate(ctx, in)
	if err != nil {
		return nil, err
	}
	gas := min(est+est*GasMarginPct/100, c.Policy.MaxGas)
	return &Plan{Request: req.ID, KeyID: in.keyID, Path: in.account.Path, From: from, ChainID: c.Policy.ChainID,
		Nonce: nonce, To: in.to, Value: in.value, Data: in.data, Gas: gas, MaxFeePerGas: maxFee, MaxPriorityFeePerGas: tip}, nil
}

// fees returns the tip (the node's suggestion, capped) and the max fee
// (twice the base fee plus the tip, capped); refused when the cap is
// below the base fee plus the tip.
func (c *Chain) fees(ctx context.Context) (tip, maxFee *big.Int, err error) {
	tip, err = c.Node.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: gas tip: %w", ErrNode, err)
	}
	tipCap := new(big.Int).SetUint64(c.Policy.MaxPriorityFeePerGasWei)
	if tip.Cmp(tipCap) > 0 {
		tip = tipCap
	}
	head, err := c.Node.HeaderByNumber(ctx, nil)
	if err != nil || head.BaseFee == nil {
		return nil, nil, fmt.Errorf("%w: latest header has no base fee: %v", ErrNode, err)
	}
	want := new(big.Int).Add(new(big.Int).Lsh(head.BaseFee, 1), tip)
	feeCap := new(big.Int).SetUint64(c.Policy.MaxFeePerGasWei)
	if floor := new(big.Int).Add(head.BaseFee, tip); floor.Cmp(feeCap) > 0 {
		return nil, nil, refuse(ReasonFeeCap, "base fee %s + tip %s wei over the cap of %s", head.BaseFee, tip, feeCap)
	}
	if want.Cmp(feeCap) > 0 {
		want = feeCap
	}
	return tip, want, nil
}

// Check refuses plan unless it is exactly the transaction req asks for
// and passes every check against this node's policy and its own EVM node:
// chain ID, token allowlist and decimals, recipient, amount and balance,
// fees under the caps, gas limit against its own estimate, and a nonce
// neither used on chain nor held by another request.
func (c *Chain) Check(ctx context.Context, req Request, p *Plan) error {
	return c.check(ctx, req, p, "")
}

// check is Check; a nonce the request replaces holds (replaces, "" for
// none) is no clash.
func (c *Chain) check(ctx context.Context, req Request, p *Plan, replaces string) error {
	in, err := c.resolve(req)
	if err != nil {
		return err
	}
	if p.ChainID != c.Policy.ChainID {
		return refuse(ReasonChainID, "plan is for chain %d; this node signs for chain %d", p.ChainID, c.Policy.ChainID)
	}
	if err := in.matches(req, p); err != nil {
		return err
	}
	if err := c.checkChainID(ctx, p.ChainID); err != nil {
		return err
	}
	if err := c.checkFees(p); err != nil {
		return err
	}
	if err := c.checkAsset(ctx, in); err != nil {
		return err
	}
	if err := c.checkGas(ctx, in, p); err != nil {
		return err
	}
	if err := c.checkGasFunds(ctx, p.From, maxCost(p)); err != nil {
		return err
	}
	return c.checkNonce(ctx, req, p, replaces)
}

func (c *Chain) checkChainID(ctx context.Context, want uint64) error {
	id, err := c.Node.ChainID(ctx)
	if err != nil {
		return fmt.Errorf("%w: chain ID: %w", ErrNode, err)
	}
	if !id.IsUint64() || id.Uint64() != want {
		return refuse(ReasonChainID, "this node's EVM node is on chain %s; the policy signs for chain %d", id, want)
	}
	return nil
}

func (c *Chain) checkFees(p *Plan) error {
	feeCap := new(big.Int).SetUint64(c.Policy.MaxFeePerGasWei)
	tipCap := new(big.Int).SetUint64(c.Policy.MaxPriorityFeePerGasWei)
	switch {
	case p.MaxFeePerGas.Cmp(feeCap) > 0:
		return refuse(ReasonFeeCap, "max fee per gas %s wei over the cap of %s", p.MaxFeePerGas, feeCap)
	case p.MaxPriorityFeePerGas.Cmp(tipCap) > 0:
		return refuse(ReasonPriorityFee, "max priority fee per gas %s wei over the cap of %s", p.MaxPriorityFeePerGas, tipCap)
	case p.MaxPriorityFeePerGas.Cmp(p.MaxFeePerGas) > 0:
		return refuse(ReasonPriorityFee, "max priority fee %s over the max fee %s", p.MaxPriorityFeePerGas, p.MaxFeePerGas)
	}
	return nil
}

// checkAsset reads, on the node's own EVM node, the token's decimals and
// the account's balance of the asset (for the native coin: of the amount
// alone; checkGasFunds adds the gas).
func (c *Chain) checkAsset(ctx context.Context, in *intent) error {
	from := in.account.Address
	if in.asset.Contract == nil {
		return c.checkGasFunds(ctx, from, in.amount)
	}
	dec, err := TokenDecimals(ctx, c.Node, *in.asset.Contract)
	if err != nil {
		return err
	}
	if dec != in.asset.Decimals {
		return refuse(ReasonDecimals, "%s at %s has %d decimals on chain; the policy says %d", in.asset.Symbol, in.asset.Contract.Hex(), dec, in.asset.Decimals)
	}
	bal, err := TokenBalance(ctx, c.Node, *in.asset.Contract, from)
	if err != nil {
		return err
	}
	if bal.Cmp(in.amount) < 0 {
		return refuse(ReasonBalance, "%s holds %s %s; the request moves %s", from.Hex(),
			FormatUnits(bal, dec), in.asset.Symbol, FormatUnits(in.amount, dec))
	}
	return nil
}

// checkGasFunds refuses unless from holds need wei of the native coin.
func (c *Chain) checkGasFunds(ctx context.Context, from common.Address, need *big.Int) error {
	native, err := c.Node.BalanceAt(ctx, from, nil)
	if err != nil {
		return fmt.Errorf("%w: balance of %s: %w", ErrNode, from.Hex(), err)
	}
	if native.Cmp(need) < 0 {
		return refuse(ReasonBalance, "%s holds %s wei; the transaction may need %s", from.Hex(), native, need)
	}
	return nil
}

// maxCost is the most p can take from its account in the native coin.
func maxCost(p *Plan) *big.Int {
	gas := new(big.Int).Mul(new(big.Int).SetUint64(p.Gas), p.MaxFeePerGas)
	return gas.Add(gas, p.Value)
}

func (c *Chain) estimate(ctx context.Context, in *intent) (uint64, error) {
	est, err := c.Node.EstimateGas(ctx, callMsg(in))
	if err != nil {
		return 0, fmt.Errorf("%w: estimating gas: %w", ErrNode, err)
	}
	if est > c.Policy.MaxGas {
		return 0, refuse(ReasonGasLimit, "the node estimates %d gas; the cap is %d", est, c.Policy.MaxGas)
	}
	return est, nil
}

func (c *Chain) checkGas(ctx context.Context, in *intent, p *Plan) error {
	est, err := c.estimate(ctx, in)
	if err != nil {
		return err
	}
	switch {
	case p.Gas > c.Policy.MaxGas:
		return refuse(ReasonGasLimit, "gas limit %d over the cap of %d", p.Gas, c.Policy.MaxGas)
	case p.Gas < est:
		return refuse(ReasonGasLimit, "gas limit %d under this node's estimate of %d", p.Gas, est)
	}
	return nil
}

func (c *Chain) checkNonce(ctx context.Context, req Request, p *Plan, replaces string) error {
	used, err := c.Node.NonceAt(ctx, p.From, nil)
	if err != nil {
		return fmt.Errorf("%w: nonce of %s: %w", ErrNode, p.From.Hex(), err)
	}
	if p.Nonce < used {
		return refuse(ReasonNonceUsed, "nonce %d of %s is used: the node has %d confirmed", p.Nonce, p.From.Hex(), used)
	}
	holder, held, err := c.Nonces.Holder(p.From, p.Nonce)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNonces, err)
	}
	if held && holder != req.ID && (replaces == "" || holder != replaces) {
		return refuse(ReasonNonceHeld, "nonce %d of %s is held by request %s", p.Nonce, p.From.Hex(), holder)
	}
	n, ok, err := c.Nonces.HeldBy(p.From, req.ID)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNonces, err)
	}
	if ok && n != p.Nonce {
		return refuse(ReasonNonceHeld, "request %s holds nonce %d of %s; its plan must reuse it, not %d", req.ID, n, p.From.Hex(), p.Nonce)
	}
	pending, err := c.Node.PendingNonceAt(ctx, p.From)
	if err != nil {
		return fmt.Errorf("%w: pending nonce of %s: %w", ErrNode, p.From.Hex(), err)
	}
	// A transaction in the node's mempool uses the nonce already: only the
	// request that holds it may sign again there (a replacement).
	if p.Nonce < pending && !held {
		return refuse(ReasonNonceHeld, "nonce %d of %s is taken by a pending transaction no request of this node holds", p.Nonce, p.From.Hex())
	}
	_, end, err := c.Nonces.Next(p.From, pending)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNonces, err)
	}
	if p.Nonce > max(pending, end) {
		return refuse(ReasonNonceGap, "nonce %d of %s: the next free is at most %d", p.Nonce, p.From.Hex(), max(pending, end))
	}
	return nil
}

// Signing is what a node that passed every check signs.
type Signing struct {
	Digest [32]byte
	KeyID  string
	Path   string
	Delta  *big.Int // BIP32 tweak for tss.SignConfig.Delta; nil for the group key
	From   common.Address
}

// Authorize checks p for req (Check) and, when every check passes, holds
// its nonce for req and returns what to sign. A refusal holds nothing.
func (c *Chain) Authorize(ctx context.Context, req Request, p *Plan) (*Signing, error) {
	if err := c.Check(ctx, req, p); err != nil {
		return nil, err
	}
	if err := c.Nonces.Hold(p.From, p.Nonce, req.ID); err != nil {
		return nil, err
	}
	return c.signing(p)
}

// signing is what a node signs for p.
func (c *Chain) signing(p *Plan) (*Signing, error) {
	group, err := c.groupKey(p.KeyID)
	if err != nil {
		return nil, err
	}
	acct, err := DeriveAccount(group, p.Path)
	if err != nil {
		return nil, refuse(ReasonAccount, "%v", err)
	}
	return &Signing{Digest: p.Digest(), KeyID: p.KeyID, Path: p.Path, Delta: acct.Delta, From: acct.Address}, nil
}
