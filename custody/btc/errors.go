package btc

import (
	"errors"

	"github.com/triad-custody/triad/tss"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// these (test with errors.Is) and adds what was being done.
var (
	// Configuration and addresses.
	ErrUnknownNetwork = errors.New("btc: unknown network")
	ErrBadAddress     = errors.New("btc: bad address")
	ErrWrongNetwork   = errors.New("btc: address is for another network")
	ErrBadPublicKey   = errors.New("btc: bad public key")

	// Key derivation: package tss's (tss/bip32.go).
	ErrBadPath       = tss.ErrBadPath
	ErrHardenedIndex = tss.ErrHardenedIndex
	ErrBadChainCode  = tss.ErrBadChainCode
	ErrInvalidChild  = tss.ErrInvalidChild

	// Spend validation and building.
	ErrBadSpend          = errors.New("btc: malformed spend")
	ErrBadInput          = errors.New("btc: bad input")
	ErrDuplicateInput    = errors.New("btc: duplicate input")
	ErrMixedInputs       = errors.New("btc: inputs belong to more than one key")
	ErrDust              = errors.New("btc: output below dust threshold")
	ErrInsufficientFunds = errors.New("btc: insufficient funds")
	ErrFeeTooHigh        = errors.New("btc: fee exceeds ceiling")
	ErrTooLarge          = errors.New("btc: transaction too large")

	// Checking a proposed transaction against its spend.
	ErrUnexpectedInput = errors.New("btc: transaction spends an unexpected input")
	ErrMissingInput    = errors.New("btc: transaction misses an expected input")
	ErrOutputMismatch  = errors.New("btc: transaction outputs differ from the spend")
	ErrWrongChange     = errors.New("btc: change does not go to the change address")
	ErrTxMismatch      = errors.New("btc: transaction differs from the canonical build")

	// Signing and finalising.
	ErrPrevoutMismatch = errors.New("btc: prevouts do not match the transaction inputs")
	ErrBadSignature    = errors.New("btc: malformed signature")
	ErrKeyMismatch     = errors.New("btc: input is not locked to the given key")
	ErrScriptFailed    = errors.New("btc: script verification failed")

	// Node access.
	ErrRPC = errors.New("btc: node RPC failed")
)
