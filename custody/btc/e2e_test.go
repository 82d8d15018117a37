package btc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/btc/btcdtest"
	"github.com/triad-custody/triad/internal/testkey"
)

// signer stands in for the threshold signing session: digest in, (r, s) out.
type signer struct {
	priv *btcec.PrivateKey
}

// spendOnNode does what a signing node does with a spend: build, check,
// sighash, sign, finalise (script engine), broadcast.
func spendOnNode(ctx context.Context, t *testing.T, node *btcdtest.Node, s btc.Spend, key signer) *chainhash.Hash {
	t.Helper()
	tx, err := btc.Build(s)
	if err != nil {
		t.Fatalf("build %s: %v", s.Action, err)
	}
	if err := btc.Check(tx, s); err != nil {
		t.Fatalf("check %s: %v", s.Action, err)
	}
	hashes, err := btc.SigHashes(tx, s.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := btc.Finalize(tx, s.Inputs, key.priv.PubKey(), signAll(key.priv, hashes))
	if err != nil {
		t.Fatalf("finalize %s: %v", s.Action, err)
	}
	txid, err := node.Client.Broadcast(ctx, signed)
	if err != nil {
		t.Fatalf("broadcast %s: %v", s.Action, err)
	}
	if *txid != tx.TxHash() {
		t.Fatalf("node txid %v, built %v", txid, tx.TxHash())
	}
	if n, err := node.Client.Confirmations(ctx, txid); err != nil || n != 0 {
		t.Fatalf("in mempool: confirmations %d, %v", n, err)
	}
	return txid
}

func utxosOf(us []btc.Unspent) []btc.UTXO {
	out := make([]btc.UTXO, len(us))
	for i, u := range us {
		out[i] = u.UTXO
	}
	return out
}

func balance(ctx context.Context, t *testing.T, node *btcdtest.Node, addr string) btcutil.Amount {
	t.Helper()
	b, err := node.Client.Balance(ctx, addr, 1)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mineAndConfirm(ctx context.Context, t *testing.T, node *btcdtest.Node, txid *chainhash.Hash) {
	t.Helper()
	node.Generate(t, 1)
	if n, err := node.Client.Confirmations(ctx, txid); err != nil || n != 1 {
		t.Fatalf("after one block: confirmations %d, %v", n, err)
	}
}

func TestEndToEndRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a btcd node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	group := testkey.Private("e2e group key")
	custody, _ := addressOf(t, group.PubKey(), "regtest")
	node := btcdtest.Start(t, btcdtest.Options{MiningAddr: custody})
	node.Mature(ctx, t)
	coins, err := node.Client.ListUnspent(ctx, custody, 1)
	if err != nil || len(coins) < 3 {
		t.Fatalf("custody coins: %d, %v", len(coins), err)
	}

	// A client's child address, derived from the group public key alone.
	path, _ := btc.ParsePath("m/0/7")
	childPub, delta, err := btc.DeriveChild(group.PubKey(), btc.ChainCode(group.PubKey()), path)
	if err != nil {
		t.Fatal(err)
	}
	child, _ := addressOf(t, childPub, "regtest")
	external, _ := addressOf(t, testkey.Private("e2e borrower").PubKey(), "regtest")
	lender, _ := addressOf(t, testkey.Private("e2e lender").PubKey(), "regtest")

	// 1. Collateral release from the custody address: to the borrower and to
	// the client's child address, change back to custody.
	release := btc.Spend{
		Action: btc.ActionRelease, Network: "regtest",
		Inputs:        utxosOf(coins[:2]),
		Outputs:       []btc.Output{{Address: external, Amount: 100_000_000}, {Address: child, Amount: 50_000_000}},
		ChangeAddress: custody, FeeRate: 2, MaxFee: 5_000,
	}
	txid := spendOnNode(ctx, t, node, release, signer{group})
	pending, err := node.Client.ListUnspent(ctx, custody, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range pending {
		if u.OutPoint == release.Inputs[0].OutPoint || u.OutPoint == release.Inputs[1].OutPoint {
			t.Fatal("coin spent in the mempool is still listed as unspent")
		}
	}
	mineAndConfirm(ctx, t, node, txid)
	if b := balance(ctx, t, node, external); b != 100_000_000 {
		t.Fatalf("borrower balance %v", b)
	}
	if b := balance(ctx, t, node, child); b != 50_000_000 {
		t.Fatalf("child balance %v", b)
	}

	// 2. Liquidation from the child address, signed with the child key
	// (parent + delta, what tss-lib's key-derivation signing computes).
	childCoins, err := node.Client.ListUnspent(ctx, child, 1)
	if err != nil || len(childCoins) != 1 {
		t.Fatalf("child coins %d, %v", len(childCoins), err)
	}
	liquidation := btc.Spend{
		Action: btc.ActionLiquidation, Network: "regtest",
		Inputs:        utxosOf(childCoins),
		Outputs:       []btc.Output{{Address: lender, Amount: 30_000_000}},
		ChangeAddress: child, FeeRate: 3, MaxFee: 5_000,
	}
	// The group key cannot sign for the child address.
	tx, _ := btc.Build(liquidation)
	h, _ := btc.SigHashes(tx, liquidation.Inputs)
	if _, err := btc.Finalize(tx, liquidation.Inputs, childPub, signAll(group, h)); !errors.Is(err, btc.ErrScriptFailed) {
		t.Fatalf("group key on child input: %v", err)
	}
	childSigner := signer{testkey.Child(group, delta)}
	txid = spendOnNode(ctx, t, node, liquidation, childSigner)
	mineAndConfirm(ctx, t, node, txid)
	if b := balance(ctx, t, node, lender); b != 30_000_000 {
		t.Fatalf("lender balance %v", b)
	}
	fee, _ := btc.Fee(tx, liquidation.Inputs)
	if b := balance(ctx, t, node, child); int64(b) != 20_000_000-fee {
		t.Fatalf("child balance %v, want %d", b, 20_000_000-fee)
	}

	// 3. Emergency unfreeze: sweep what is left on the child address.
	childCoins, err = node.Client.ListUnspent(ctx, child, 1)
	if err != nil || len(childCoins) != 1 {
		t.Fatalf("child coins %d, %v", len(childCoins), err)
	}
	unfreeze := btc.Spend{
		Action: btc.ActionUnfreeze, Network: "regtest", Sweep: true,
		Inputs:  utxosOf(childCoins),
		Outputs: []btc.Output{{Address: external}},
		FeeRate: 1, MaxFee: 1_000,
	}
	txid = spendOnNode(ctx, t, node, unfreeze, childSigner)
	mineAndConfirm(ctx, t, node, txid)
	if b := balance(ctx, t, node, child); b != 0 {
		t.Fatalf("child balance after sweep %v", b)
	}
	if b := balance(ctx, t, node, external); int64(b) <= 100_000_000+20_000_000-fee-1_000 {
		t.Fatalf("borrower balance after sweep %v", b)
	}
	if _, err := node.Client.Confirmations(ctx, &chainhash.Hash{1}); !errors.Is(err, btc.ErrNotFound) {
		t.Fatalf("unknown txid: %v", err)
	}
}
