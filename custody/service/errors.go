package service

import "errors"

// Sentinel errors. The API maps them to status codes; every returned error
// wraps one of these (or one of package custody's or store's) with %w.
var (
	// ErrForbidden: the caller's role may not ask for this kind, or claims
	// to be someone it is not.
	ErrForbidden = errors.New("service: forbidden")
	// ErrRefused: this node will not join a signing session.
	ErrRefused = errors.New("service: signing refused")
	// ErrNotReady: this node does not yet hold what it needs to decide
	// (the request, the approvals); it may change shortly.
	ErrNotReady = errors.New("service: not ready to sign")
	// ErrClosed: the service is shutting down.
	ErrClosed = errors.New("service: closed")
	// ErrBadResult: a reported signature does not verify.
	ErrBadResult = errors.New("service: signature does not verify")
	// ErrPeer: a peer did not answer in time or answered badly.
	ErrPeer = errors.New("service: peer failed")
)
