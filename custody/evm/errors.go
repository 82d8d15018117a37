package evm

import (
	"errors"
	"fmt"
)

// Reason says why a node refuses to sign an EVM transaction.
type Reason string

// Refusal reasons. Each check of Chain.Check has its own.
const (
	ReasonChainID     Reason = "chain_id"      // the node's EVM node, the policy and the plan disagree on the chain
	ReasonToken       Reason = "token"         // asset not configured, or the contract is not the allowlisted one
	ReasonDecimals    Reason = "decimals"      // the contract's decimals() differs from the configured decimals
	ReasonRecipient   Reason = "recipient"     // the recipient is not one the policy allows for the account and kind
	ReasonAccount     Reason = "account"       // the account is unknown or its key path does not derive
	ReasonAmount      Reason = "amount"        // malformed, zero, too many decimals, or over the asset's cap
	ReasonBalance     Reason = "balance"       // the account holds less than the amount (or the gas) on the node
	ReasonNonceUsed   Reason = "nonce_used"    // the node has already confirmed a transaction with this nonce
	ReasonNonceHeld   Reason = "nonce_held"    // another open request holds this nonce
	ReasonNonceGap    Reason = "nonce_gap"     // the nonce leaves a gap no transaction would fill
	ReasonFeeCap      Reason = "fee_cap"       // max fee per gas over the policy cap (or below the base fee + tip)
	ReasonPriorityFee Reason = "priority_fee"  // max priority fee over its cap or over the max fee
	ReasonGasLimit    Reason = "gas_limit"     // gas limit under the node's own estimate or over the cap
	ReasonPlan        Reason = "plan_mismatch" // the plan is not the transaction the request asks for
	ReasonReplace     Reason = "replacement"   // a replacement that is not the stuck transaction at a fee bumped by ReplaceBumpPct
)

// ErrRefused is wrapped by every Refusal: errors.Is(err, ErrRefused).
var ErrRefused = errors.New("evm: refused")

// Errors that are not refusals: configuration, the EVM node, signatures.
var (
	ErrConfig    = errors.New("evm: invalid configuration")
	ErrNode      = errors.New("evm: EVM node")
	ErrSignature = errors.New("evm: signature")
	ErrPath      = errors.New("evm: derivation path")
	ErrNonces    = errors.New("evm: reading the nonces held here")
)

// Refusal is a check that failed: the node will not sign. Reason is stable
// (for metrics, the API and tests); Detail says what was seen.
type Refusal struct {
	Reason Reason
	Detail string
}

func (r *Refusal) Error() string { return fmt.Sprintf("evm: refused (%s): %s", r.Reason, r.Detail) }

// Unwrap makes every Refusal match ErrRefused.
func (r *Refusal) Unwrap() error { return ErrRefused }

func refuse(reason Reason, format string, args ...any) error {
	return &Refusal{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the refusal reason in err's chain, or "" if err is no refusal.
func ReasonOf(err error) Reason {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}
