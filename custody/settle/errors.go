package settle

import "errors"

// Sentinel errors. Every error returned by this package wraps one of these
// or one of package btc's (test with errors.Is) and says what was being
// done.
var (
	// ErrNotSettled: the request is not a Bitcoin transfer this package
	// settles (a canary drill, another asset).
	ErrNotSettled = errors.New("settle: not a bitcoin settlement")
	// ErrPolicy: the request disagrees with this node's policy (account,
	// key, child path, destination, fee rate).
	ErrPolicy = errors.New("settle: request does not match this node's policy")
	// ErrNoInputs: the request names no coins and none can be found.
	ErrNoInputs = errors.New("settle: no inputs")
	// ErrKey: this node holds no usable share of the request's key.
	ErrKey = errors.New("settle: key unavailable")
	// ErrNoChain: the operation needs a Bitcoin node and none is configured.
	ErrNoChain = errors.New("settle: no bitcoin node configured")
	// ErrNoResults: the chains were made without the custody store that
	// holds the service's results (Chains.Results).
	ErrNoResults = errors.New("settle: no custody store to read results from")
	// ErrInputMismatch: an input of a plan is not what this node's own
	// Bitcoin node says (value, script, spent, confirmations).
	ErrInputMismatch = errors.New("settle: input differs from this node's bitcoin node")
	// ErrSignatures: the signatures do not make a valid transaction.
	ErrSignatures = errors.New("settle: signatures do not complete the transaction")
)
