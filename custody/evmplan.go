package custody

import (
	"fmt"
	"slices"
)

// OnEVM reports whether p's asset symbol lives on an EVM chain.
func (p Policy) OnEVM(symbol string) bool {
	a, ok := p.asset(symbol)
	return ok && a.Chain == ChainEVM
}

// CheckFeeRate checks a transfer's fee_rate against the chain of its
// asset in p: a Bitcoin asset needs one (1..MaxFeeRate sat/vB), an asset
// of an EVM chain must not carry one. An EVM transaction's fees are the
// coordinator's plan under every node's own caps (evm.chains: max fee and
// max priority fee per gas, max gas), never the caller's, and a field the
// request's ID binds but nothing uses would only mislead. An asset p does
// not know is held to the Bitcoin rule (Evaluate refuses it anyway).
func (p Policy) CheckFeeRate(r Request) error {
	if r.Kind == KindCanary {
		return nil
	}
	if a, ok := p.asset(r.Asset); ok && a.Chain == ChainEVM {
		if r.FeeRate != 0 {
			return malformed("fee_rate", "%s is on EVM chain %d: its fees come from each node's evm.chains caps; leave fee_rate out", clip(r.Asset), a.ChainID)
		}
		return nil
	}
	if r.FeeRate == 0 || r.FeeRate > MaxFeeRate {
		return malformed("fee_rate", "must be 1..%d sat/vB", MaxFeeRate)
	}
	return nil
}

// EVMPlan is the plan of a transfer paid on an EVM chain: the choices the
// coordinator made from its own EVM node (nonce, fee caps, gas limit) for
// the one transaction that pays the request. Everything else of that
// transaction (the paying address, token contract, recipient, call data,
// value) every signer derives from the request and its own policy, and it
// checks these choices against its own EVM node and caps (custody/evm).
// Like Inputs, it is not part of the request's ID: the same request
// re-planned (a replacement with a higher fee) is the same request, and
// it holds the same nonce.
type EVMPlan struct {
	ChainID              uint64 `json:"chain_id"`
	Nonce                uint64 `json:"nonce"`
	Gas                  uint64 `json:"gas"`
	MaxFeePerGas         string `json:"max_fee_per_gas"`          // wei, decimal
	MaxPriorityFeePerGas string `json:"max_priority_fee_per_gas"` // wei, decimal
}

// NonceAssigner is the signer of record of an EVM account's nonces for a
// signing pair: the one party whose plan (nonce) the other signs. It is
// derived, never configured, so every node agrees: the custodian whenever
// it signs (every release and liquidation, and an unfreeze it joins),
// otherwise the first of the pair in Parties order (the exchange, for an
// emergency unfreeze without the custodian). It is the coordinator
// SigningPair picks; a plan another party proposes is refused
// (DecideJoin), so no two parties hand out an account's nonces for one
// pair, and a nonce two open requests would share is refused by the party
// the two pairs have in common (its nonce holds, custody/evm).
func NonceAssigner(pair []Party) Party {
	for _, p := range Parties {
		if slices.Contains(pair, p) {
			return p
		}
	}
	return ""
}

// Bounds of an EVM plan: a gas limit no block refuses outright, and fees
// of at most 78 decimal digits (a uint256).
const (
	minEVMGas    = 21_000
	maxEVMGas    = 30_000_000
	maxWeiDigits = 78
)

// WithEVMPlan returns r paid by the EVM transaction p describes.
func (r Request) WithEVMPlan(p *EVMPlan) Request {
	r.EVM = p
	return r
}

// validate checks structure only: an EVM node and policy caps judge the
// values (custody/evm).
func (p *EVMPlan) validate() error {
	switch {
	case p.ChainID == 0:
		return malformed("evm.chain_id", "must be set")
	case p.Gas < minEVMGas || p.Gas > maxEVMGas:
		return malformed("evm.gas", "must be %d..%d", minEVMGas, maxEVMGas)
	}
	for _, f := range []struct{ name, v string }{{"evm.max_fee_per_gas", p.MaxFeePerGas}, {"evm.max_priority_fee_per_gas", p.MaxPriorityFeePerGas}} {
		if err := checkWei(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// checkWei accepts a decimal integer without sign or leading zeros.
func checkWei(field, s string) error {
	if s == "" || len(s) > maxWeiDigits || (len(s) > 1 && s[0] == '0') {
		return malformed(field, "must be a decimal integer of 1..%d digits without leading zeros", maxWeiDigits)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return malformed(field, "%s", fmt.Sprintf("must be a decimal integer, got %q", clip(s)))
		}
	}
	return nil
}
