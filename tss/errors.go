package tss

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sentinel errors. A rejection drops one envelope and is counted: wrong
// session, spoofed sender, non-participant, wrong type/round/flag,
// duplicate, late. An abort ends the session and comes as an *Error with
// culprits: equivocation, a malformed message from an authenticated
// participant, inconsistent broadcast, a tss-lib failure, a timeout, an
// unreachable peer.
var (
	ErrWrongSession          = errors.New("tss: envelope for another session")
	ErrSpoofedSender         = errors.New("tss: claimed sender is not the authenticated peer")
	ErrNotParticipant        = errors.New("tss: sender is not a participant of this session")
	ErrWrongType             = errors.New("tss: message type not valid for this protocol")
	ErrWrongRound            = errors.New("tss: round does not match message type")
	ErrWrongBroadcast        = errors.New("tss: broadcast flag does not match message type")
	ErrNotForMe              = errors.New("tss: point-to-point message not addressed to this party")
	ErrMalformed             = errors.New("tss: malformed message")
	ErrDuplicate             = errors.New("tss: duplicate message")
	ErrLate                  = errors.New("tss: message arrived after the session deadline")
	ErrEquivocation          = errors.New("tss: equivocation: two different messages for one round")
	ErrInconsistentBroadcast = errors.New("tss: broadcast differs between receivers")
	ErrProtocol              = errors.New("tss: protocol failure")
	ErrTimeout               = errors.New("tss: session deadline passed")
	ErrUnreachable           = errors.New("tss: peer unreachable")
	ErrAborted               = errors.New("tss: session aborted")
	ErrNotDone               = errors.New("tss: session has no result yet")
	ErrConfig                = errors.New("tss: invalid session configuration")

	// Key derivation (bip32.go).
	ErrBadPath       = errors.New("tss: bad derivation path")
	ErrHardenedIndex = errors.New("tss: hardened index cannot be derived from a public key")
	ErrBadChainCode  = errors.New("tss: chain code must be 32 bytes")
	ErrInvalidChild  = errors.New("tss: derived child key is invalid for this index")
	ErrBadPublicKey  = errors.New("tss: bad public key")
)

// Error is a session failure with the parties to blame, in the manner of
// multi-party-sig's protocol.Error.
type Error struct {
	Err       error
	Culprits  []string
	SessionID SessionID
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "session %s: %v", e.SessionID.Short(), e.Err)
	if len(e.Culprits) > 0 {
		fmt.Fprintf(&b, " (culprits: %s)", strings.Join(e.Culprits, ", "))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func newError(sid SessionID, err error, culprits ...string) *Error {
	set := map[string]bool{}
	var cs []string
	for _, c := range culprits {
		if c != "" && !set[c] {
			set[c] = true
			cs = append(cs, c)
		}
	}
	sort.Strings(cs)
	return &Error{Err: err, Culprits: cs, SessionID: sid}
}

// Culprits returns the parties blamed by err, if it is (or wraps) an *Error.
func Culprits(err error) []string {
	var e *Error
	if errors.As(err, &e) {
		return e.Culprits
	}
	return nil
}

// Aborts reports whether err ended the session (as opposed to dropping one
// envelope): every abort is an *Error naming its culprits.
func Aborts(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
