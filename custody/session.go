package custody

import (
	"fmt"
	"strconv"
	"strings"
)

// SessionName names one threshold signature of a request: digest Input of
// request Request in signing attempt Attempt, written
// "<request>/<input>/<attempt>". It travels as a signing proposal's
// request ID (bound into the session ID), so every signer knows which of
// its own digests the proposal must carry. Each digest of a request is its
// own session; each attempt has a fresh Attempt.
type SessionName struct {
	Request string // a request ID (or a batch's "batch-<id>")
	Input   int    // the digest's index, from 0
	Attempt string // the coordinator's attempt nonce
}

// String is the wire form "<request>/<input>/<attempt>".
func (n SessionName) String() string {
	return n.Request + "/" + strconv.Itoa(n.Input) + "/" + n.Attempt
}

// maxSessionName bounds a session name read from a peer.
const maxSessionName = 256

// ParseSessionName reads a session name strictly: three non-empty parts,
// the input a canonical non-negative decimal ("0", "7", never "07", "+1").
func ParseSessionName(s string) (SessionName, error) {
	if len(s) > maxSessionName {
		return SessionName{}, fmt.Errorf("%w: session name of %d bytes", ErrMalformed, len(s))
	}
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return SessionName{}, fmt.Errorf("%w: session name %q is not <request>/<input>/<attempt>", ErrMalformed, clip(s))
	}
	i, err := strconv.Atoi(parts[1])
	if err != nil || i < 0 || strconv.Itoa(i) != parts[1] {
		return SessionName{}, fmt.Errorf("%w: input index %q in session name", ErrMalformed, clip(parts[1]))
	}
	return SessionName{Request: parts[0], Input: i, Attempt: parts[2]}, nil
}
