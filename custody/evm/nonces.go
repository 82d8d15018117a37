package evm

import (
	"fmt"
	"sync"

	"github.com/ethereum/go-ethereum/common"
)

// Nonces records which open request holds which nonce of an account on
// the chain, as the btc reservations record which request holds which
// coin: a nonce one request holds is refused to every other, and a request
// holds one nonce (a replacement reuses it), so two transactions of one
// account that the nodes signed can never both be for different requests
// at one nonce. A node keeps them in its store (StoredNonces over
// custody/store); NonceBook is the in-memory twin for tests.
type Nonces interface {
	// Holder returns the request holding account's nonce, if any.
	Holder(account common.Address, nonce uint64) (string, bool, error)
	// HeldBy returns the nonce of account that request holds, if any.
	HeldBy(account common.Address, request string) (uint64, bool, error)
	// Hold gives account's nonce to request; a *Refusal (ReasonNonceHeld)
	// when another request holds it or request holds another nonce.
	Hold(account common.Address, nonce uint64, request string) error
	// Next returns the lowest nonce of account at or above from that no
	// request holds, and the highest held nonce plus one (or from).
	Next(account common.Address, from uint64) (free, end uint64, err error)
	// Replace hands account's nonce, held by request old (its transaction
	// stuck), to request, the replacement at the same nonce; a *Refusal
	// (ReasonNonceHeld) unless old or request holds it, or when request
	// holds another nonce.
	Replace(account common.Address, nonce uint64, old, request string) error
}

// NonceStore is the node's store of nonce holds (*store.Store), keyed by
// chain ID: a request that ends unpaid holds nothing there any more.
type NonceStore interface {
	HoldNonce(chainID uint64, account [20]byte, nonce uint64, id string) error
	NonceHolder(chainID uint64, account [20]byte, nonce uint64) (string, bool, error)
	NonceHeldBy(chainID uint64, account [20]byte, id string) (uint64, bool, error)
	NextNonce(chainID uint64, account [20]byte, from uint64) (free, end uint64, err error)
	ReplaceNonce(chainID uint64, account [20]byte, nonce uint64, old, id string) error
}

// StoredNonces are one chain's nonce holds in the node's store.
type StoredNonces struct {
	Store   NonceStore
	ChainID uint64
	// IsHeld reports whether a Hold error is the store's "held by another
	// request" (store.ErrNonceHeld); other errors are the store's failures.
	IsHeld func(error) bool
}

// Holder implements Nonces.
func (s StoredNonces) Holder(account common.Address, nonce uint64) (string, bool, error) {
	return s.Store.NonceHolder(s.ChainID, account, nonce)
}

// HeldBy implements Nonces.
func (s StoredNonces) HeldBy(account common.Address, request string) (uint64, bool, error) {
	return s.Store.NonceHeldBy(s.ChainID, account, request)
}

// Hold implements Nonces.
func (s StoredNonces) Hold(account common.Address, nonce uint64, request string) error {
	err := s.Store.HoldNonce(s.ChainID, account, nonce, request)
	if err != nil && s.IsHeld != nil && s.IsHeld(err) {
		return refuse(ReasonNonceHeld, "nonce %d of %s: %v", nonce, account.Hex(), err)
	}
	if err != nil {
		return fmt.Errorf("%w: holding nonce %d of %s: %w", ErrNonces, nonce, account.Hex(), err)
	}
	return nil
}

// Replace implements Nonces.
func (s StoredNonces) Replace(account common.Address, nonce uint64, old, request string) error {
	err := s.Store.ReplaceNonce(s.ChainID, account, nonce, old, request)
	if err != nil && s.IsHeld != nil && s.IsHeld(err) {
		return refuse(ReasonNonceHeld, "nonce %d of %s: %v", nonce, account.Hex(), err)
	}
	if err != nil {
		return fmt.Errorf("%w: handing nonce %d of %s to a replacement: %w", ErrNonces, nonce, account.Hex(), err)
	}
	return nil
}

// Next implements Nonces.
func (s StoredNonces) Next(account common.Address, from uint64) (uint64, uint64, error) {
	return s.Store.NextNonce(s.ChainID, account, from)
}

var (
	_ Nonces = StoredNonces{}
	_ Nonces = (*NonceBook)(nil)
)

// NonceBook is Nonces in memory (tests, and a node without a store).
type NonceBook struct {
	mu   sync.Mutex
	held map[nonceKey]string // → request ID
}

type nonceKey struct {
	account common.Address
	nonce   uint64
}

// NewNonceBook returns an empty book.
func NewNonceBook() *NonceBook { return &NonceBook{held: map[nonceKey]string{}} }

// Holder returns the request holding account's nonce, if any.
func (b *NonceBook) Holder(account common.Address, nonce uint64) (string, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id, ok := b.held[nonceKey{account, nonce}]
	return id, ok, nil
}

// Hold gives account's nonce to request, unless another request holds it
// or request holds another nonce of account (one request, one nonce: a
// replacement reuses it). Holding it again for the same request is a no-op.
func (b *NonceBook) Hold(account common.Address, nonce uint64, request string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := nonceKey{account, nonce}
	if id, ok := b.held[k]; ok && id != request {
		return refuse(ReasonNonceHeld, "nonce %d of %s is held by request %s", nonce, account.Hex(), id)
	}
	for o, id := range b.held {
		if o.account == account && id == request && o.nonce != nonce {
			return refuse(ReasonNonceHeld, "request %s holds nonce %d of %s; a replacement must reuse it, not %d", request, o.nonce, account.Hex(), nonce)
		}
	}
	b.held[k] = request
	return nil
}

// Replace hands account's nonce from old to request (a replacement at
// the same nonce), unless neither holds it or request holds another.
func (b *NonceBook) Replace(account common.Address, nonce uint64, old, request string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := nonceKey{account, nonce}
	if id := b.held[k]; id != old && id != request {
		return refuse(ReasonNonceHeld, "nonce %d of %s is held by %q, not by the request %s replaces", nonce, account.Hex(), id, old)
	}
	for o, id := range b.held {
		if o.account == account && id == request && o.nonce != nonce {
			return refuse(ReasonNonceHeld, "request %s holds nonce %d of %s, not %d", request, o.nonce, account.Hex(), nonce)
		}
	}
	b.held[k] = request
	return nil
}

// HeldBy returns the nonce of account that request holds, if any.
func (b *NonceBook) HeldBy(account common.Address, request string) (uint64, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, id := range b.held {
		if k.account == account && id == request {
			return k.nonce, true, nil
		}
	}
	return 0, false, nil
}

// Release frees every nonce request holds (it ended unpaid).
func (b *NonceBook) Release(request string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, id := range b.held {
		if id == request {
			delete(b.held, k)
		}
	}
}

// Next returns the lowest nonce of account at or above from that no
// request holds, and the highest nonce any request holds plus one (or
// from, if none is held at or above from).
func (b *NonceBook) Next(account common.Address, from uint64) (free, end uint64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	free, end = from, from
	for b.held[nonceKey{account, free}] != "" {
		free++
	}
	for k := range b.held {
		if k.account == account && k.nonce >= end {
			end = k.nonce + 1
		}
	}
	return free, end, nil
}
