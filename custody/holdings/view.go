package holdings

import (
	"cmp"
	"context"
	"fmt"
	"math/big"
	"slices"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/evm"
)

// BitcoinAsset is the asset symbol of Bitcoin holdings (settle.Asset).
const BitcoinAsset = "BTC"

// Chain is what a holdings view needs of this node's own Bitcoin node;
// *btc.Client implements it.
type Chain interface {
	BestBlock(ctx context.Context) (int64, string, error)
	ListUnspent(ctx context.Context, address string, minConf int64) ([]btc.Unspent, error)
}

var _ Chain = (*btc.Client)(nil)

// Addresses derives an account's custody address from this node's own key
// share; *settle.Settler implements it.
type Addresses interface {
	Address(ctx context.Context, keyID, childPath string) (string, error)
}

// View reads every account's holdings from this node's own chain view.
type View struct {
	// Policy lists the accounts (custody accounts; canary accounts are
	// drills, not client holdings).
	Policy custody.Policy
	// Network is the Bitcoin network ("regtest", "mainnet", …); it names
	// the chain head ("bitcoin/<network>").
	Network   string
	Chain     Chain
	Addresses Addresses
	// Reserved reports which of ins an open or paid request holds in this
	// node's store (store.Reserved with id ""): those coins are committed
	// and are no client's holding any more. nil: none.
	Reserved func(ins []custody.Input) ([]custody.Input, error)
	// MinConf is the confirmations a coin needs to count (0: 1).
	MinConf int64
	// EVM are this node's own EVM chains by chain ID (node config
	// evm.chains): their Node, GroupKey and allowlisted assets
	// (Policy.Assets) give every custody account's token balances.
	EVM map[uint64]*evm.Chain
	// Open lists the requests open (not terminal) in this node's store: an
	// EVM transfer among them commits its amount until its transaction is
	// in the block read. nil: none.
	Open func() ([]custody.Request, error)
}

// maxReads bounds the retries of Read when a block arrives mid-read.
const maxReads = 3

// Read returns one leaf per custody account (its confirmed, unspent,
// mature coins under its own address, less those reserved) and the chain
// head they were read at, then for every EVM chain one leaf per custody
// account and asset and that chain's head (readEVM). Heads are sorted by
// chain name.
func (v View) Read(ctx context.Context) ([]Leaf, []ChainHead, error) {
	var leaves []Leaf
	var heads []ChainHead
	if v.Chain != nil || len(v.EVM) == 0 {
		ls, hs, err := v.readBitcoin(ctx)
		if err != nil {
			return nil, nil, err
		}
		leaves, heads = ls, hs
	}
	ls, hs, err := v.readEVM(ctx)
	if err != nil {
		return nil, nil, err
	}
	leaves, heads = append(leaves, ls...), append(heads, hs...)
	slices.SortFunc(heads, func(a, b ChainHead) int { return cmp.Compare(a.Chain, b.Chain) })
	return leaves, heads, nil
}

// readBitcoin reads the Bitcoin head before and after the coins and
// starts again (at most maxReads times) if a block arrived between.
func (v View) readBitcoin(ctx context.Context) ([]Leaf, []ChainHead, error) {
	if v.Chain == nil || v.Addresses == nil {
		return nil, nil, fmt.Errorf("%w: this node has no Bitcoin node", ErrChain)
	}
	for range maxReads {
		h0, b0, err := v.Chain.BestBlock(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrChain, err)
		}
		head := ChainHead{Chain: "bitcoin/" + v.Network, Height: uint64(h0), Block: b0}
		leaves, err := v.readAt(ctx, head)
		if err != nil {
			return nil, nil, err
		}
		h1, b1, err := v.Chain.BestBlock(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrChain, err)
		}
		if h1 == h0 && b1 == b0 {
			return leaves, []ChainHead{head}, nil
		}
	}
	return nil, nil, fmt.Errorf("%w: the chain moved during %d reads", ErrChain, maxReads)
}

func (v View) readAt(ctx context.Context, head ChainHead) ([]Leaf, error) {
	minConf := v.MinConf
	if minConf <= 0 {
		minConf = 1
	}
	var leaves []Leaf
	for _, a := range v.Policy.Accounts {
		if r, ok := v.Policy.KeyRoleOf(a.KeyID); !ok || r != custody.RoleCustody {
			continue
		}
		addr, err := v.Addresses.Address(ctx, a.KeyID, a.ChildPath)
		if err != nil {
			return nil, fmt.Errorf("%w: address of %s: %w", ErrChain, a.ID, err)
		}
		coins, err := v.Chain.ListUnspent(ctx, addr, minConf)
		if err != nil {
			return nil, fmt.Errorf("%w: coins of %s: %w", ErrChain, a.ID, err)
		}
		ins := make([]custody.Input, len(coins))
		for i, c := range coins {
			ins[i] = custody.Input{TxID: c.OutPoint.Hash.String(), Vout: c.OutPoint.Index, Value: uint64(c.Value)}
		}
		var held []custody.Input
		if v.Reserved != nil && len(ins) > 0 {
			if held, err = v.Reserved(ins); err != nil {
				return nil, fmt.Errorf("reserved coins of %s: %w", a.ID, err)
			}
		}
		sum := new(big.Int)
		for _, in := range ins {
			if !slices.ContainsFunc(held, func(h custody.Input) bool { return h.TxID == in.TxID && h.Vout == in.Vout }) {
				sum.Add(sum, new(big.Int).SetUint64(in.Value))
			}
		}
		leaves = append(leaves, Leaf{Account: a.ID, Asset: BitcoinAsset, Amount: sum, Height: head.Height, Block: head.Block})
	}
	return leaves, nil
}
