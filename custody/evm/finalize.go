package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

func callMsg(in *intent) ethereum.CallMsg {
	to := in.to
	return ethereum.CallMsg{From: in.account.Address, To: &to, Value: in.value, Data: in.data}
}

// SignFunc produces a threshold signature (r, s) over digest by the key
// tweaked by delta (nil: the group key), e.g. one tss signing session.
type SignFunc func(ctx context.Context, s *Signing) (r, sig *big.Int, err error)

// Sign authorizes p for req and only then asks sign for a signature:
// a refused plan is never signed. It returns the finalized transaction.
func (c *Chain) Sign(ctx context.Context, req Request, p *Plan, sign SignFunc) (*types.Transaction, error) {
	s, err := c.Authorize(ctx, req, p)
	if err != nil {
		return nil, err
	}
	r, sv, err := sign(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("%w: signing %s: %w", ErrSignature, req.ID, err)
	}
	return Finalize(p, r, sv)
}

var halfN = new(big.Int).Rsh(btcec.S256().N, 1)

// Finalize attaches the signature (r, s) over p's digest: s normalised to
// low-s, the recovery id found by recovering the key, and the result must
// recover to p.From or nothing is returned.
func Finalize(p *Plan, r, s *big.Int) (*types.Transaction, error) {
	if err := p.wellFormed(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	n := btcec.S256().N
	if r == nil || s == nil || r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(n) >= 0 || s.Cmp(n) >= 0 {
		return nil, fmt.Errorf("%w: r or s out of range", ErrSignature)
	}
	if s.Cmp(halfN) > 0 {
		s = new(big.Int).Sub(n, s)
	}
	digest := p.Digest()
	sig := make([]byte, 65)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:64])
	signer := types.LatestSignerForChainID(new(big.Int).SetUint64(p.ChainID))
	for v := byte(0); v < 2; v++ {
		sig[64] = v
		pub, err := crypto.SigToPub(digest[:], sig)
		if err != nil || crypto.PubkeyToAddress(*pub) != p.From {
			continue
		}
		tx, err := p.Tx().WithSignature(signer, sig)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSignature, err)
		}
		if from, err := types.Sender(signer, tx); err != nil || from != p.From {
			return nil, fmt.Errorf("%w: signed transaction recovers to %s, not %s (%v)", ErrSignature, from.Hex(), p.From.Hex(), err)
		}
		return tx, nil
	}
	return nil, fmt.Errorf("%w: the signature does not recover to %s with either recovery id", ErrSignature, p.From.Hex())
}

// Broadcast sends a finalized transaction to the node's own EVM node.
func (c *Chain) Broadcast(ctx context.Context, tx *types.Transaction) (common.Hash, error) {
	if err := c.Node.SendTransaction(ctx, tx); err != nil {
		return common.Hash{}, fmt.Errorf("%w: sending %s: %w", ErrNode, tx.Hash().Hex(), err)
	}
	return tx.Hash(), nil
}

// ReceiptNotYet reports whether err only means that the node has no
// receipt yet: not found, or geth still indexing transactions.
func ReceiptNotYet(err error) bool {
	return errors.Is(err, ethereum.NotFound) || err != nil && strings.Contains(err.Error(), "transaction indexing is in progress")
}

// ErrReverted: the transaction was mined but failed; nothing was paid.
var ErrReverted = errors.New("evm: transaction reverted")

// Confirmations returns how deep hash is on the node's own chain: 0 while
// it is not in a block of that chain (pending, dropped or reorged out),
// and ErrReverted (with its receipt) if it was mined and failed.
func (c *Chain) Confirmations(ctx context.Context, hash common.Hash) (int, *types.Receipt, error) {
	rc, err := c.Node.TransactionReceipt(ctx, hash)
	if ReceiptNotYet(err) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w: receipt of %s: %w", ErrNode, hash.Hex(), err)
	}
	head, err := c.Node.HeaderByNumber(ctx, rc.BlockNumber)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: block %s: %w", ErrNode, rc.BlockNumber, err)
	}
	if head.Hash() != rc.BlockHash {
		return 0, nil, nil // the block holding it was reorged out
	}
	tip, err := c.Node.BlockNumber(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: block number: %w", ErrNode, err)
	}
	if tip < rc.BlockNumber.Uint64() {
		return 0, nil, nil // the node's head is behind its own receipt: not yet settled
	}
	depth := int(tip-rc.BlockNumber.Uint64()) + 1
	if rc.Status != types.ReceiptStatusSuccessful {
		return depth, rc, fmt.Errorf("%w: %s in block %s", ErrReverted, hash.Hex(), rc.BlockNumber)
	}
	return depth, rc, nil
}

// Paid reports whether hash is at least Policy.Confirmations deep on the
// node's own chain: only then does the request count as paid. A reverted
// transaction is an error (ErrReverted), never paid.
func (c *Chain) Paid(ctx context.Context, hash common.Hash) (bool, error) {
	depth, _, err := c.Confirmations(ctx, hash)
	if err != nil {
		return false, err
	}
	return depth >= c.Policy.Confirmations, nil
}
