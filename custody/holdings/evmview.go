package holdings

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strconv"

	"github.com/ethereum/go-ethereum/common"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/store"
)

// EVMHeadPrefix names an EVM chain's head in a snapshot: "evm/<chain ID>".
const EVMHeadPrefix = "evm/"

// readEVM returns, for every EVM chain (by chain ID, in order), one leaf
// per custody account and allowlisted asset (symbol) and the head they
// were read at: the ERC-20 balanceOf (or the native balance, for an asset
// with no contract) of the account's derived address at one block of
// this node's own EVM node, less what open requests of the account and
// asset commit that are not yet in that block.
func (v View) readEVM(ctx context.Context) ([]Leaf, []ChainHead, error) {
	ids := make([]uint64, 0, len(v.EVM))
	for id := range v.EVM {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var open []custody.Request
	if v.Open != nil && len(ids) > 0 {
		var err error
		if open, err = v.Open(); err != nil {
			return nil, nil, fmt.Errorf("open requests: %w", err)
		}
	}
	var leaves []Leaf
	var heads []ChainHead
	for _, id := range ids {
		ls, head, err := v.readEVMChain(ctx, id, v.EVM[id], open)
		if err != nil {
			return nil, nil, err
		}
		leaves, heads = append(leaves, ls...), append(heads, head)
	}
	return leaves, heads, nil
}

// readEVMChain reads one chain at its latest block (number and hash read
// first, every balance at that number) and checks the block is still
// there after, so a reorganisation mid-read is an error, not a mix.
func (v View) readEVMChain(ctx context.Context, id uint64, ch *evm.Chain, open []custody.Request) ([]Leaf, ChainHead, error) {
	if ch == nil || ch.Node == nil || ch.GroupKey == nil {
		return nil, ChainHead{}, fmt.Errorf("%w: no EVM node for chain %d", ErrChain, id)
	}
	head, num, err := evmHead(ctx, ch.Node, nil)
	if err != nil {
		return nil, ChainHead{}, fmt.Errorf("%w: chain %d: %w", ErrChain, id, err)
	}
	head.Chain = EVMHeadPrefix + strconv.FormatUint(id, 10)
	symbols := make([]string, 0, len(ch.Policy.Assets))
	for s := range ch.Policy.Assets {
		symbols = append(symbols, s)
	}
	slices.Sort(symbols)
	var leaves []Leaf
	for _, a := range v.Policy.Accounts {
		if r, ok := v.Policy.KeyRoleOf(a.KeyID); !ok || r != custody.RoleCustody || len(symbols) == 0 {
			continue
		}
		group, err := ch.GroupKey(a.KeyID)
		if err != nil {
			return nil, ChainHead{}, fmt.Errorf("%w: key of %s: %w", ErrChain, a.ID, err)
		}
		acct, err := evm.DeriveAccount(group, a.ChildPath)
		if err != nil {
			return nil, ChainHead{}, fmt.Errorf("%w: EVM address of %s: %w", ErrChain, a.ID, err)
		}
		nonce, err := ch.Node.NonceAt(ctx, acct.Address, num)
		if err != nil {
			return nil, ChainHead{}, fmt.Errorf("%w: nonce of %s on chain %d: %w", ErrChain, a.ID, id, err)
		}
		for _, sym := range symbols {
			bal, err := evmBalance(ctx, ch.Node, ch.Policy.Assets[sym].Contract, acct.Address, num)
			if err != nil {
				return nil, ChainHead{}, fmt.Errorf("%w: %s of %s on chain %d: %w", ErrChain, sym, a.ID, id, err)
			}
			bal.Sub(bal, committed(open, a.ID, sym, id, nonce))
			if bal.Sign() < 0 {
				bal.SetInt64(0)
			}
			leaves = append(leaves, Leaf{Account: a.ID, Asset: sym, Amount: bal, Height: head.Height, Block: head.Block})
		}
	}
	again, _, err := evmHead(ctx, ch.Node, num)
	if err != nil || again.Block != head.Block {
		return nil, ChainHead{}, fmt.Errorf("%w: chain %d: block %d changed during the read (%v)", ErrChain, id, head.Height, err)
	}
	return leaves, head, nil
}

// evmHead reads the header at number (nil: the latest).
func evmHead(ctx context.Context, n evm.Node, number *big.Int) (ChainHead, *big.Int, error) {
	h, err := n.HeaderByNumber(ctx, number)
	if err != nil {
		return ChainHead{}, nil, err
	}
	if h == nil || h.Number == nil || !h.Number.IsUint64() {
		return ChainHead{}, nil, fmt.Errorf("the node gave no block number")
	}
	hash := h.Hash()
	return ChainHead{Height: h.Number.Uint64(), Block: hex.EncodeToString(hash[:])}, new(big.Int).Set(h.Number), nil
}

// evmBalance is owner's balance of the token at contract (nil: the
// native coin) at block.
func evmBalance(ctx context.Context, n evm.Node, contract *common.Address, owner common.Address, block *big.Int) (*big.Int, error) {
	if contract == nil {
		return n.BalanceAt(ctx, owner, block)
	}
	return evm.TokenBalanceAt(ctx, n, *contract, owner, block)
}

// committed sums the amounts (base units) of the open requests that move
// asset out of account on chain chainID and are not yet in the block read:
// those without a plan, and those whose planned nonce the account has not
// used by that block (nonce is its transaction count there).
func committed(open []custody.Request, account, asset string, chainID, nonce uint64) *big.Int {
	sum := new(big.Int)
	for _, r := range open {
		if r.Account != account || r.Asset != asset || r.BaseUnits().Sign() == 0 {
			continue
		}
		if r.EVM != nil && (r.EVM.ChainID != chainID || r.EVM.Nonce < nonce) {
			continue
		}
		sum.Add(sum, r.BaseUnits())
	}
	return sum
}

// OpenIn is View.Open over a node's custody store: its requests not
// terminal, each with the EVM plan (nonce) this node stored for it.
func OpenIn(st *store.Store) func() ([]custody.Request, error) {
	return func() ([]custody.Request, error) {
		es, err := st.List(func(e store.Entry) bool { return !e.Progress.Record.Status.Terminal() })
		if err != nil {
			return nil, err
		}
		out := make([]custody.Request, len(es))
		for i, e := range es {
			out[i] = e.Request
			p, ok, err := st.PlanOf(e.Request.ID())
			if err != nil {
				return nil, err
			}
			if ok && p.EVM != nil {
				out[i].EVM = p.EVM
			}
		}
		return out, nil
	}
}
