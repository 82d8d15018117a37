package evm

import (
	"sync"

	"github.com/ethereum/go-ethereum/common"
)

// NonceBook records which open request holds which nonce of an account,
// as the btc reservations record which request holds which coin: a nonce
// one request holds is refused to every other, so two transactions of one
// account that the nodes signed can never both be for different requests
// at one nonce. It is in memory; the wiring into the request flow keeps it
// in the node's store.
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
func (b *NonceBook) Holder(account common.Address, nonce uint64) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id, ok := b.held[nonceKey{account, nonce}]
	return id, ok
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

// HeldBy returns the nonce of account that request holds, if any.
func (b *NonceBook) HeldBy(account common.Address, request string) (uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, id := range b.held {
		if k.account == account && id == request {
			return k.nonce, true
		}
	}
	return 0, false
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
func (b *NonceBook) Next(account common.Address, from uint64) (free, end uint64) {
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
	return free, end
}
