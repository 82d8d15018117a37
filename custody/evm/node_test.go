package evm_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/evm/gethtest"
)

// receiptNode is the node's EVM node with its receipts rewritten.
type receiptNode struct {
	evm.Node
	rewrite func(*types.Receipt)
}

func (n receiptNode) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	rc, err := n.Node.TransactionReceipt(ctx, h)
	if err == nil {
		c := *rc
		n.rewrite(&c)
		rc = &c
	}
	return rc, err
}

// TestConfirmations: depth grows with blocks on the node's own chain and a
// request is paid at the configured depth; a receipt whose block is no
// longer the chain's (a reorg) counts 0, and a failed transaction is
// ErrReverted, never paid.
func TestConfirmations(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc := e.chain.Send(t, &e.owner, gethtest.Ether(1), nil)
	node := e.node(t, e.cfg, e.party, evm.NewNonceBook())
	// geth --dev may seal a block of its own now and then, so depths are
	// checked as lower bounds: they only grow.
	d1, _, err := node.Confirmations(ctx, rc.TxHash)
	if err != nil || d1 < 1 {
		t.Fatalf("depth %d, %v; want at least 1", d1, err)
	}
	e.chain.Fund(t, e.liq, gethtest.Ether(1)) // one more block at least
	d2, _, err := node.Confirmations(ctx, rc.TxHash)
	if err != nil || d2 < d1+1 {
		t.Fatalf("depth %d, %v; want at least %d", d2, err, d1+1)
	}
	node.Policy.Confirmations = 1000
	if paid, err := node.Paid(ctx, rc.TxHash); err != nil || paid {
		t.Fatalf("paid at depth %d of 1000: %v, %v", d2, paid, err)
	}
	node.Policy.Confirmations = d2
	if paid, err := node.Paid(ctx, rc.TxHash); err != nil || !paid {
		t.Fatalf("not paid at depth %d of %d: %v, %v", d2, d2, paid, err)
	}
	if d, _, err := node.Confirmations(ctx, common.Hash{1}); err != nil || d != 0 {
		t.Fatalf("unknown tx: depth %d, %v", d, err)
	}
	node.Node = receiptNode{e.chain.Client, func(r *types.Receipt) { r.BlockHash = common.Hash{0xee} }}
	if d, _, err := node.Confirmations(ctx, rc.TxHash); err != nil || d != 0 {
		t.Fatalf("reorged out: depth %d, %v; want 0", d, err)
	}
	node.Node = receiptNode{e.chain.Client, func(r *types.Receipt) { r.Status = types.ReceiptStatusFailed }}
	if _, _, err := node.Confirmations(ctx, rc.TxHash); !errors.Is(err, evm.ErrReverted) {
		t.Fatalf("failed tx: %v, want ErrReverted", err)
	}
	if paid, err := node.Paid(ctx, rc.TxHash); paid || !errors.Is(err, evm.ErrReverted) {
		t.Fatalf("a reverted tx: paid %v, %v", paid, err)
	}
}

// TestNodeDown: with its EVM node unreachable a signer refuses to sign
// with ErrNode (not a policy refusal) and starts no session (../shared/SECURITY.md
// ../shared/SECURITY.md scenario 26: a node that cannot read the chain signs nothing).
func TestNodeDown(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := release("req-1", e.owner.Hex(), "1")
	plan := e.plan(ctx, t, req)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	client, err := evm.Dial(ctx, dead)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	signer := e.node(t, e.cfg, e.party, evm.NewNonceBook())
	signer.Node = client
	_, err = signer.Sign(ctx, req, plan, thresholdSigner(t, e.shares, &e.signers))
	if !errors.Is(err, evm.ErrNode) || evm.ReasonOf(err) != "" || e.signers.Load() != 0 {
		t.Fatalf("got %v (%d sessions); want ErrNode and no session", err, e.signers.Load())
	}
}

// pendingNode is the node's EVM node with a mempool that holds one more
// transaction of every account than its chain has confirmed.
type pendingNode struct{ evm.Node }

func (n pendingNode) PendingNonceAt(ctx context.Context, a common.Address) (uint64, error) {
	used, err := n.NonceAt(ctx, a, nil)
	return used + 1, err
}

// TestNoncePendingInMempool: a nonce that a pending transaction in the
// node's own mempool already uses is refused unless this node's book says
// the same request holds it (then the plan is a replacement of its own
// transaction) (../shared/SECURITY.md scenario 27).
func TestNoncePendingInMempool(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := release("req-1", e.owner.Hex(), "1")
	plan := e.plan(ctx, t, req)
	book := evm.NewNonceBook()
	signer := e.node(t, e.cfg, e.party, book)
	signer.Node = pendingNode{e.chain.Client}
	if _, err := signer.Sign(ctx, req, plan, thresholdSigner(t, e.shares, &e.signers)); evm.ReasonOf(err) != evm.ReasonNonceHeld || e.signers.Load() != 0 {
		t.Fatalf("got %v (%d sessions), want %s and no session", err, e.signers.Load(), evm.ReasonNonceHeld)
	}
	if err := book.Hold(plan.From, plan.Nonce, req.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := signer.Authorize(ctx, req, plan); err != nil {
		t.Fatalf("the request's own pending nonce (a replacement): %v", err)
	}
}
