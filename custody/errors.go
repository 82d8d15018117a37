package custody

import "errors"

// Sentinel errors. Callers test with errors.Is; every error returned by this
// package wraps one of these with %w and says what was being done.
var (
	// ErrMalformed: a request, evidence or approval could not be decoded, or a
	// field is out of bounds.
	ErrMalformed = errors.New("custody: malformed input")
	// ErrInvalidPolicy: a policy configuration key has a bad value.
	ErrInvalidPolicy = errors.New("custody: invalid policy")
	// ErrBadSignature: an ed25519 signature (operator or margin engine) does
	// not verify, or the signer is not configured.
	ErrBadSignature = errors.New("custody: bad signature")
	// ErrExpired: a signed approval or veto is past its expiry, or not yet valid.
	ErrExpired = errors.New("custody: expired")
	// ErrReplay: a nonce was seen before.
	ErrReplay = errors.New("custody: replayed nonce")
	// ErrMismatch: a signed approval is bound to another request or action.
	ErrMismatch = errors.New("custody: binding mismatch")
	// ErrIllegalTransition: the request state machine refuses an event.
	ErrIllegalTransition = errors.New("custody: illegal transition")
	// ErrTooManyAttempts: the signing-attempt budget is spent.
	ErrTooManyAttempts = errors.New("custody: too many signing attempts")
	// ErrRawDigestRefused: the raw-digest signing path was asked for a key
	// that is not a canary key.
	ErrRawDigestRefused = errors.New("custody: raw-digest signing refused")
)
