package holdings

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/evm/gethtest"
	"github.com/triad-custody/triad/custody/store"
	"github.com/triad-custody/triad/internal/testkey"
)

// Issue 13, ../shared/SECURITY.md scenario 26: ERC-20 (and native) holdings come
// from this node's OWN EVM node at one block, recorded as that chain's
// head, less what open requests of the account and asset commit; a proof
// over them verifies. Against a real geth --dev.
func TestViewReadsEVMBalancesFromOwnNode(t *testing.T) {
	g := gethtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := g.Client.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	group := testkey.Private("vault-1").PubKey()
	acct1, err := evm.DeriveAccount(group, "m/0/1")
	if err != nil {
		t.Fatal(err)
	}
	token := g.DeployToken(t, "Test USD", "TUSD", 6)
	g.Mint(t, token, acct1.Address, big.NewInt(5_000_000))
	g.Fund(t, acct1.Address, gethtest.Ether(1))

	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), custody.Custodian)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	chain := &evm.Chain{Node: g.Client, GroupKey: func(string) (*btcec.PublicKey, error) { return group, nil },
		Policy: evm.Policy{Config: evm.Config{ChainID: id.Uint64()}, Assets: map[string]evm.Asset{
			"TUSD": {Symbol: "TUSD", Decimals: 6, Contract: &token}, "ETH": {Symbol: "ETH", Decimals: 18}}}}
	v := View{Policy: viewPolicy(), EVM: map[uint64]*evm.Chain{id.Uint64(): chain},
		Open: OpenIn(st)}

	leaves, heads, err := v.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The head is a block of this chain (its number and hash), the one
	// the balances were read at, and no older than the funding.
	if len(heads) != 1 {
		t.Fatalf("heads %+v", heads)
	}
	hdr, err := g.Client.HeaderByNumber(ctx, new(big.Int).SetUint64(heads[0].Height))
	if err != nil || hdr.Number.Uint64() < 3 { // deploy, mint, fund
		t.Fatalf("header at %d: %v", heads[0].Height, err)
	}
	hash := hdr.Hash()
	want := ChainHead{Chain: fmt.Sprintf("evm/%d", id), Height: hdr.Number.Uint64(), Block: hex.EncodeToString(hash[:])}
	if heads[0] != want {
		t.Fatalf("heads %+v, want %+v", heads, want)
	}
	got := amounts(t, leaves, want)
	if w := "map[acct-1/ETH:1000000000000000000 acct-1/TUSD:5000000 acct-2/ETH:0 acct-2/TUSD:0]"; fmt.Sprint(got) != w {
		t.Fatalf("holdings %v, want %s", got, w)
	}

	// The token balance is in a proof that verifies against the snapshot.
	tr, err := Build(leaves)
	if err != nil {
		t.Fatal(err)
	}
	snap := Snapshot{Time: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), Root: HexHash(tr.Root()), Leaves: uint64(tr.Size()), Chains: heads}
	p, err := ProofFor(tr, signSnapshot(t, testkey.Private("attest"), snap), "acct-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(testkey.Private("attest").PubKey()); err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 2 || p.Entries[1].Leaf.Asset != "TUSD" || p.Entries[1].Leaf.Amount.Int64() != 5_000_000 {
		t.Fatalf("proof entries %+v", p.Entries)
	}

	// An open request of acct-1 for 2 TUSD commits them: the view shows 3.
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	req := custody.Request{Kind: custody.KindRelease, IdempotencyKey: "r-evm", Requester: custody.Requester{Party: custody.Exchange, Caller: "ops"},
		Account: "acct-1", KeyID: "vault-1", ChildPath: "m/0/1", Asset: "TUSD", Destination: g.Dev.Hex(), Amount: 2_000_000, FeeRate: 1, CreatedAt: now}
	e, _, err := st.Propose(req, now)
	if err != nil {
		t.Fatal(err)
	}
	leaves, heads, err = v.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := amounts(t, leaves, heads[0]); got["acct-1/TUSD"] != "3000000" || got["acct-1/ETH"] != "1000000000000000000" {
		t.Fatalf("with an open request: %v", got)
	}
	// Planned at nonce 0 and mined, but not yet done: the balance shows
	// the transfer, so the request commits nothing more (not 1 TUSD left).
	if err := st.PlanEVM(e.Request.ID(), custody.EVMPlan{ChainID: id.Uint64(), Nonce: 0, Gas: 100_000, MaxFeePerGas: "1", MaxPriorityFeePerGas: "1"}, true); err != nil {
		t.Fatal(err)
	}
	sendTransfer(ctx, t, g, acct1, token, big.NewInt(2_000_000))
	leaves, heads, err = v.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := amounts(t, leaves, heads[0]); got["acct-1/TUSD"] != "3000000" {
		t.Fatalf("with the request's transaction mined: %v", got)
	}
}

// sendTransfer sends amount of token from acct (the child of
// testkey.Private("vault-1")) to the dev account at the account's nonce 0.
func sendTransfer(ctx context.Context, t *testing.T, g *gethtest.Chain, acct evm.Account, token common.Address, amount *big.Int) {
	t.Helper()
	d := new(big.Int).SetBytes(testkey.Private("vault-1").Serialize())
	d.Add(d, acct.Delta).Mod(d, btcec.S256().N)
	priv, err := crypto.ToECDSA(d.FillBytes(make([]byte, 32)))
	if err != nil || crypto.PubkeyToAddress(priv.PublicKey) != acct.Address {
		t.Fatalf("child key: %v", err)
	}
	data, err := evm.TransferData(g.Dev, amount)
	if err != nil {
		t.Fatal(err)
	}
	id, err := g.Client.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gas, err := g.Client.EstimateGas(ctx, ethereum.CallMsg{From: acct.Address, To: &token, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: id, Nonce: 0, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9),
		Gas: gas * 2, To: &token, Data: data}), types.LatestSignerForChainID(id), priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Client.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if rc, err := g.WaitReceipt(ctx, tx.Hash()); err != nil || rc.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("transfer: %v", err)
	}
}

func amounts(t *testing.T, leaves []Leaf, head ChainHead) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, l := range leaves {
		if l.Height != head.Height || l.Block != head.Block {
			t.Fatalf("leaf %+v not at the head %+v", l, head)
		}
		got[l.Account+"/"+l.Asset] = l.Amount.String()
	}
	return got
}

// A request's amount is committed until its transaction is in the block
// read: one planned at a nonce the account has used there is already in
// the balance, and one on another chain or of another asset or account is
// not this leaf's.
func TestCommittedSkipsWhatTheBlockHolds(t *testing.T) {
	r := func(acct, asset string, amt uint64, plan *custody.EVMPlan) custody.Request {
		return custody.Request{Account: acct, Asset: asset, Amount: amt, EVM: plan}
	}
	open := []custody.Request{
		r("acct-1", "TUSD", 5, nil),                                         // not planned yet: committed
		r("acct-1", "TUSD", 7, &custody.EVMPlan{ChainID: 1337, Nonce: 4}),   // nonce 4 unused at nonce count 4: committed
		r("acct-1", "TUSD", 100, &custody.EVMPlan{ChainID: 1337, Nonce: 3}), // in the block: its balance shows it
		r("acct-1", "TUSD", 1000, &custody.EVMPlan{ChainID: 1, Nonce: 9}),   // another chain
		r("acct-1", "ETH", 10000, nil),
		r("acct-2", "TUSD", 100000, nil),
	}
	if got := committed(open, "acct-1", "TUSD", 1337, 4); got.Int64() != 12 {
		t.Fatalf("committed %v, want 12", got)
	}
}

// mintsAfterHead is the node's EVM node where a block (a mint) arrives
// right after the view has read the head.
type mintsAfterHead struct {
	evm.Node
	mint func()
}

func (m *mintsAfterHead) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	h, err := m.Node.HeaderByNumber(ctx, n)
	if m.mint != nil {
		m.mint()
		m.mint = nil
	}
	return h, err
}

// Issue 13, ../shared/SECURITY.md scenario 26: every balance is read at the head recorded, not
// at whatever block is latest when it is asked for, so the snapshot's
// head names the state its amounts are.
func TestViewReadsEVMBalancesAtTheHead(t *testing.T) {
	g := gethtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := g.Client.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	group := testkey.Private("vault-1").PubKey()
	acct1, _ := evm.DeriveAccount(group, "m/0/1")
	token := g.DeployToken(t, "Test USD", "TUSD", 6)
	g.Mint(t, token, acct1.Address, big.NewInt(5_000_000))
	node := &mintsAfterHead{Node: g.Client, mint: func() { g.Mint(t, token, acct1.Address, big.NewInt(1)) }}
	chain := &evm.Chain{Node: node, GroupKey: func(string) (*btcec.PublicKey, error) { return group, nil },
		Policy: evm.Policy{Config: evm.Config{ChainID: id.Uint64()}, Assets: map[string]evm.Asset{"TUSD": {Symbol: "TUSD", Contract: &token}}}}
	v := View{Policy: viewPolicy(), EVM: map[uint64]*evm.Chain{id.Uint64(): chain}}
	leaves, heads, err := v.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := g.Client.BlockNumber(ctx)
	if err != nil || latest <= heads[0].Height {
		t.Fatalf("latest block %d (%v), head %d: no block arrived mid-read", latest, err, heads[0].Height)
	}
	if got := amounts(t, leaves, heads[0]); got["acct-1/TUSD"] != "5000000" {
		t.Fatalf("holdings %v: not read at the head", got)
	}
}
