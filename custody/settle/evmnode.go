package settle

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/store"
	"github.com/triad-custody/triad/node"
)

// ChainsForNode makes the chain boundary of a node from its config: the
// Bitcoin settler btc (ForNode) and one evm.Chain per evm.chains entry,
// each over the node's OWN EVM node (rpc_url, not contacted here), its
// caps and confirmations, the EVM assets and accounts of its own policy,
// the group keys of its key store (keys) and the nonce holds of its
// custody store (nonces, bound once the store is open). The coordinator
// broadcasts what it finalizes. Bind the service's results before it
// tracks (chains.Results = svc).
func ChainsForNode(ctx context.Context, cfg *node.Config, btc *Settler, keys KeyLoader, records Recorder, nonces evm.NonceStore) (*Chains, error) {
	c := &Chains{BTC: btc, EVM: map[uint64]*evm.Chain{}, Policy: cfg.Policy, Records: records, Broadcast: true}
	for i, cc := range cfg.EVM.Chains {
		pol, err := evm.NewPolicy(cc, cfg.Policy)
		if err != nil {
			return nil, fmt.Errorf("settle: evm.chains[%d]: %w", i, err)
		}
		client, err := evm.Dial(ctx, cc.RPCURL)
		if err != nil {
			return nil, fmt.Errorf("settle: evm.chains[%d].rpc_url: %w", i, err)
		}
		c.EVM[cc.ChainID] = &evm.Chain{Policy: pol, Node: client,
			Nonces: evm.StoredNonces{Store: nonces, ChainID: cc.ChainID, IsHeld: func(err error) bool { return errors.Is(err, store.ErrNonceHeld) }},
			GroupKey: func(keyID string) (*btcec.PublicKey, error) {
				share, err := keys.Load(context.Background(), keyID)
				if err != nil {
					return nil, err
				}
				return share.PublicKey()
			}}
	}
	return c, nil
}

// NoncesLater is an evm.NonceStore bound once the custody store is open
// (the service opens it, after the chains are made).
type NoncesLater struct {
	mu sync.Mutex
	s  evm.NonceStore
}

var _ evm.NonceStore = (*NoncesLater)(nil)

// Bind sets the store (normally the service's *store.Store).
func (n *NoncesLater) Bind(s evm.NonceStore) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.s = s
}

func (n *NoncesLater) get() (evm.NonceStore, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.s == nil {
		return nil, fmt.Errorf("%w: the custody store's nonce holds", ErrUnbound)
	}
	return n.s, nil
}

// HoldNonce implements evm.NonceStore.
func (n *NoncesLater) HoldNonce(chainID uint64, account [20]byte, nonce uint64, id string) error {
	s, err := n.get()
	if err != nil {
		return err
	}
	return s.HoldNonce(chainID, account, nonce, id)
}

// NonceHolder implements evm.NonceStore.
func (n *NoncesLater) NonceHolder(chainID uint64, account [20]byte, nonce uint64) (string, bool, error) {
	s, err := n.get()
	if err != nil {
		return "", false, err
	}
	return s.NonceHolder(chainID, account, nonce)
}

// NonceHeldBy implements evm.NonceStore.
func (n *NoncesLater) NonceHeldBy(chainID uint64, account [20]byte, id string) (uint64, bool, error) {
	s, err := n.get()
	if err != nil {
		return 0, false, err
	}
	return s.NonceHeldBy(chainID, account, id)
}

// ReplaceNonce implements evm.NonceStore.
func (n *NoncesLater) ReplaceNonce(chainID uint64, account [20]byte, nonce uint64, old, id string) error {
	s, err := n.get()
	if err != nil {
		return err
	}
	return s.ReplaceNonce(chainID, account, nonce, old, id)
}

// NextNonce implements evm.NonceStore.
func (n *NoncesLater) NextNonce(chainID uint64, account [20]byte, from uint64) (uint64, uint64, error) {
	s, err := n.get()
	if err != nil {
		return 0, 0, err
	}
	return s.NextNonce(chainID, account, from)
}
