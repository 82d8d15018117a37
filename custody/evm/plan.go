package evm

import (
	"fmt"
	"math/big"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/triad-custody/triad/custody"
)

// Request is the typed request an EVM settlement pays: what the caller
// asked, never how (nonce, fees and gas are each node's to plan or check).
type Request struct {
	ID      string       // the custody request's ID; it holds the nonce
	Kind    custody.Kind // collateral_release, liquidation or emergency_unfreeze
	Account string       // custody account ID (policy.accounts)
	Asset   string       // asset symbol (policy.assets, chain evm)
	To      string       // recipient, 0x-hex
	Amount  string       // in token units, e.g. "1250.5"; decimals from the policy
	// KeyID and Path, when set, must be the account's in this node's policy.
	KeyID, Path string
}

// RequestOf is the EVM request of a typed custody request (its amount in
// base units, as custody.Request carries it).
func (c *Chain) RequestOf(r custody.Request) (Request, error) {
	asset, ok := c.Policy.Assets[r.Asset]
	if !ok {
		return Request{}, refuse(ReasonToken, "asset %q is not on this node's allowlist for chain %d", clip(r.Asset), c.Policy.ChainID)
	}
	return Request{ID: r.ID(), Kind: r.Kind, Account: r.Account, Asset: r.Asset, To: r.Destination,
		Amount: FormatUnits(r.BaseUnits(), asset.Decimals), KeyID: r.KeyID, Path: r.ChildPath}, nil
}

// Plan is one EVM transaction paying a request: an unsigned EIP-1559
// (type-2) transaction and what it is for. The coordinator makes it
// (Chain.Plan); every signer checks it (Chain.Check) before it signs.
type Plan struct {
	Request              string         `json:"request"`
	KeyID                string         `json:"key_id"`
	Path                 string         `json:"path"`
	From                 common.Address `json:"from"`
	ChainID              uint64         `json:"chain_id"`
	Nonce                uint64         `json:"nonce"`
	To                   common.Address `json:"to"` // the token contract, or the recipient of a native transfer
	Value                *big.Int       `json:"value"`
	Data                 []byte         `json:"data"`
	Gas                  uint64         `json:"gas"`
	MaxFeePerGas         *big.Int       `json:"max_fee_per_gas"`
	MaxPriorityFeePerGas *big.Int       `json:"max_priority_fee_per_gas"`
}

// Tx is the plan's unsigned transaction.
func (p *Plan) Tx() *types.Transaction {
	to := p.To
	return types.NewTx(&types.DynamicFeeTx{
		ChainID:   new(big.Int).SetUint64(p.ChainID),
		Nonce:     p.Nonce,
		GasTipCap: new(big.Int).Set(p.MaxPriorityFeePerGas),
		GasFeeCap: new(big.Int).Set(p.MaxFeePerGas),
		Gas:       p.Gas,
		To:        &to,
		Value:     new(big.Int).Set(p.Value),
		Data:      append([]byte(nil), p.Data...),
	})
}

// maxWord bounds every amount and fee: a uint256.
var maxWord = new(big.Int).Lsh(big.NewInt(1), 256)

// wellFormed refuses a plan (from a peer, decoded from JSON) whose numbers
// no transaction can carry: missing, negative or wider than 256 bits.
func (p *Plan) wellFormed() error {
	for name, v := range map[string]*big.Int{"value": p.Value, "max_fee_per_gas": p.MaxFeePerGas, "max_priority_fee_per_gas": p.MaxPriorityFeePerGas} {
		if v == nil || v.Sign() < 0 || v.Cmp(maxWord) >= 0 {
			return refuse(ReasonPlan, "plan's %s is missing, negative or over 256 bits", name)
		}
	}
	if p.ChainID == 0 {
		return refuse(ReasonChainID, "plan has no chain ID")
	}
	if p.Gas == 0 || len(p.Data) > maxRawTx {
		return refuse(ReasonPlan, "plan's gas is 0 or its call data is %d bytes", len(p.Data))
	}
	return nil
}

// Digest is what the threshold key signs: the EIP-1559 signing hash of
// the plan's transaction under its chain ID.
func (p *Plan) Digest() [32]byte {
	return types.LatestSignerForChainID(new(big.Int).SetUint64(p.ChainID)).Hash(p.Tx())
}

// intent is a request resolved against this node's policy and keys: who
// pays, what, to whom, and the call that does it.
type intent struct {
	account   Account
	keyID     string
	asset     Asset
	amount    *big.Int       // base units
	recipient common.Address // who receives the asset
	to        common.Address // the transaction's to
	value     *big.Int
	data      []byte
}

// resolve checks req against the policy alone (no EVM node) and returns
// its intent.
func (c *Chain) resolve(req Request) (*intent, error) {
	asset, ok := c.Policy.Assets[req.Asset]
	if !ok {
		return nil, refuse(ReasonToken, "asset %q is not on this node's allowlist for chain %d", clip(req.Asset), c.Policy.ChainID)
	}
	target, ok := c.Policy.Accounts[req.Account]
	if !ok {
		return nil, refuse(ReasonAccount, "account %q has no EVM addresses in this node's policy", clip(req.Account))
	}
	if (req.KeyID != "" && req.KeyID != target.KeyID) || (req.Path != "" && req.Path != orRoot(target.Path)) {
		return nil, refuse(ReasonAccount, "request names key %s %s; account %s is %s %s in this node's policy",
			clip(req.KeyID), clip(req.Path), req.Account, target.KeyID, orRoot(target.Path))
	}
	to, err := ParseAddress(req.To)
	if err != nil {
		return nil, refuse(ReasonRecipient, "%v", err)
	}
	if allowed := target.recipientFor(req.Kind); allowed == nil || *allowed != to {
		return nil, refuse(ReasonRecipient, "%s to %s: not the recipient this node's policy allows for account %s", req.Kind, to.Hex(), req.Account)
	}
	amount, err := ParseUnits(req.Amount, asset.Decimals)
	if err != nil {
		return nil, refuse(ReasonAmount, "%v", err)
	}
	if amount.Cmp(asset.MaxAmount) > 0 {
		return nil, refuse(ReasonAmount, "%s %s over the cap of %s", req.Amount, asset.Symbol, FormatUnits(asset.MaxAmount, asset.Decimals))
	}
	group, err := c.groupKey(target.KeyID)
	if err != nil {
		return nil, err
	}
	acct, err := DeriveAccount(group, target.Path)
	if err != nil {
		return nil, refuse(ReasonAccount, "account %s: %v", req.Account, err)
	}
	in := &intent{account: acct, keyID: target.KeyID, asset: asset, amount: amount, recipient: to}
	if asset.Contract == nil {
		in.to, in.value = to, amount
		return in, nil
	}
	data, err := TransferData(to, amount)
	if err != nil {
		return nil, refuse(ReasonAmount, "encoding transfer: %v", err)
	}
	in.to, in.value, in.data = *asset.Contract, new(big.Int), data
	return in, nil
}

func orRoot(path string) string {
	if path == "" {
		return "m"
	}
	return path
}

func (c *Chain) groupKey(keyID string) (*btcec.PublicKey, error) {
	if c.GroupKey == nil {
		return nil, fmt.Errorf("%w: no group key lookup", ErrConfig)
	}
	k, err := c.GroupKey(keyID)
	if err != nil {
		return nil, refuse(ReasonAccount, "key %s: %v", keyID, err)
	}
	return k, nil
}

// matches refuses a plan that is not the transaction in asks for.
func (in *intent) matches(req Request, p *Plan) error {
	switch {
	case p.Request != req.ID:
		return refuse(ReasonPlan, "plan is for request %q, not %q", clip(p.Request), clip(req.ID))
	case p.KeyID != in.keyID || p.Path != in.account.Path || p.From != in.account.Address:
		return refuse(ReasonPlan, "plan pays from %s (%s %s); the account is %s (%s %s)",
			p.From.Hex(), clip(p.KeyID), clip(p.Path), in.account.Address.Hex(), in.keyID, in.account.Path)
	}
	if err := p.wellFormed(); err != nil {
		return err
	}
	if in.asset.Contract != nil && p.To != *in.asset.Contract {
		return refuse(ReasonToken, "plan calls %s; %s is %s on this node's allowlist", p.To.Hex(), in.asset.Symbol, in.asset.Contract.Hex())
	}
	if in.asset.Contract != nil {
		to, amount, ok := DecodeTransfer(p.Data)
		switch {
		case !ok || p.Value.Sign() != 0:
			return refuse(ReasonPlan, "plan is not a plain ERC-20 transfer(to, amount)")
		case to != in.recipient:
			return refuse(ReasonRecipient, "plan pays %s, the request %s", to.Hex(), in.recipient.Hex())
		case amount.Cmp(in.amount) != 0:
			return refuse(ReasonAmount, "plan moves %s base units, the request %s", amount, in.amount)
		}
		return nil
	}
	switch {
	case p.To != in.recipient:
		return refuse(ReasonRecipient, "plan pays %s, the request %s", p.To.Hex(), in.recipient.Hex())
	case p.Value.Cmp(in.amount) != 0:
		return refuse(ReasonAmount, "plan moves %s wei, the request %s", p.Value, in.amount)
	case len(p.Data) != 0:
		return refuse(ReasonPlan, "a native transfer carries no call data")
	}
	return nil
}
