package settle

import (
	"context"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/store"
)

// ChainsForNode makes the chain boundary of a node from its evm section
// and its own policy: the Bitcoin settler btc (ForNode) and one evm.Chain
// per evm.chains entry,
// each over the node's OWN EVM node (rpc_url, not contacted here), its
// caps and confirmations, the EVM assets and accounts of its own policy,
// the group keys of its key store (keys) and its custody store st (open
// already): the settlement records, the nonce holds and the results the
// service stores, which a node tracks what it signed by. The coordinator
// broadcasts what it finalizes.
func ChainsForNode(ctx context.Context, e EVMConfig, policy custody.Policy, btc *Settler, keys KeyLoader, st *store.Store) (*Chains, error) {
	c := &Chains{BTC: btc, EVM: map[uint64]*evm.Chain{}, Policy: policy, Broadcast: true}
	var nonces evm.NonceStore
	if st != nil {
		c.Records, c.Results, nonces = st, st, st
	}
	for i, cc := range e.Chains {
		pol, err := evm.NewPolicy(cc, policy)
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
