package holdings

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/store"
)

// fakeChain is a node's Bitcoin node: coins by address, and a head that
// moves after the given number of BestBlock calls.
type fakeChain struct {
	coins     map[string][]btc.Unspent
	height    int64
	calls     int
	moveAfter int // BestBlock calls before a block arrives (0: never)
	err       error
}

func (f *fakeChain) BestBlock(context.Context) (int64, string, error) {
	f.calls++
	if f.moveAfter > 0 && f.calls > f.moveAfter {
		f.height++
		f.moveAfter = 0
	}
	return f.height, fmt.Sprintf("%064x", f.height), f.err
}

func (f *fakeChain) ListUnspent(_ context.Context, addr string, minConf int64) ([]btc.Unspent, error) {
	if minConf != 1 {
		return nil, fmt.Errorf("minConf %d", minConf)
	}
	return f.coins[addr], f.err
}

type fakeAddrs struct{}

func (fakeAddrs) Address(_ context.Context, keyID, path string) (string, error) {
	return "addr:" + keyID + ":" + path, nil
}

func coin(seed byte, vout uint32, value int64) btc.Unspent {
	return btc.Unspent{UTXO: btc.UTXO{OutPoint: wire.OutPoint{Hash: chainhash.Hash{seed}, Index: vout}, Value: value}, Confirmations: 3}
}

func viewPolicy() custody.Policy {
	p := custody.DefaultPolicy(custody.Custodian)
	p.Keys = []custody.KeyConfig{{ID: "vault-1", Role: custody.RoleCustody}, {ID: "canary-1", Role: custody.RoleCanary},
		{ID: "attest-1", Role: custody.RoleAttestation}}
	p.Accounts = []custody.Account{
		{ID: "acct-1", KeyID: "vault-1", ChildPath: "m/0/1", OwnerAddress: "bcrt1qowner1"},
		{ID: "acct-2", KeyID: "vault-1", ChildPath: "m/0/2", OwnerAddress: "bcrt1qowner2"},
		{ID: "canary-acct", KeyID: "canary-1", OwnerAddress: "bcrt1qowner3"},
	}
	p.Assets = []custody.Asset{{Symbol: "BTC", Decimals: 8, MaxAmount: 1e8, CollateralFactorBps: 10000}}
	return p
}

func fundedChain() *fakeChain {
	return &fakeChain{height: 120, coins: map[string][]btc.Unspent{
		"addr:vault-1:m/0/1": {coin(1, 0, 50_000), coin(2, 1, 70_000)},
		"addr:vault-1:m/0/2": {coin(3, 0, 9_000)},
		"addr:canary-1:":     {coin(4, 0, 1_000)},
	}}
}

// Issue 13 (../shared/SECURITY.md scenario 26): holdings come from this node's own chain view,
// less the coins its store holds for open or paid requests.
func TestViewReadsOwnChainLessReserved(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), custody.Custodian)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	req := custody.Request{Kind: custody.KindRelease, IdempotencyKey: "r-1", Requester: custody.Requester{Party: custody.Custodian, Caller: "ops"},
		Account: "acct-1", KeyID: "vault-1", ChildPath: "m/0/1", Asset: "BTC", Destination: "bcrt1qowner1", Amount: 40_000, FeeRate: 2, CreatedAt: now}
	e, _, err := st.Propose(req, now)
	if err != nil {
		t.Fatal(err)
	}
	in := custody.Input{TxID: chainhash.Hash{1}.String(), Vout: 0, Value: 50_000}
	if err := st.Reserve(e.Request.ID(), []custody.Input{in}, false); err != nil {
		t.Fatal(err)
	}
	v := View{Policy: viewPolicy(), Network: "regtest", Chain: fundedChain(), Addresses: fakeAddrs{},
		Reserved: func(ins []custody.Input) ([]custody.Input, error) { return st.Reserved("", ins) }}
	leaves, heads, err := v.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != 1 || heads[0].Chain != "bitcoin/regtest" || heads[0].Height != 120 {
		t.Fatalf("heads %+v", heads)
	}
	got := map[string]string{}
	for _, l := range leaves {
		got[l.Account+"/"+l.Asset] = l.Amount.String()
		if l.Height != 120 || l.Block != heads[0].Block {
			t.Fatalf("leaf %+v not at the head", l)
		}
	}
	want := map[string]string{"acct-1/BTC": "70000", "acct-2/BTC": "9000"} // 50000 reserved; the canary account is no client's
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("holdings %v, want %v", got, want)
	}
	// Without the reservation the coin counts again.
	v.Reserved = nil
	leaves, _, _ = v.Read(context.Background())
	if leaves[0].Amount.Int64() != 120_000 {
		t.Fatalf("unreserved: %v", leaves[0].Amount)
	}
}

func TestViewRereadsWhenABlockArrives(t *testing.T) {
	c := fundedChain()
	c.moveAfter = 1 // a block between the first read's two heads
	v := View{Policy: viewPolicy(), Network: "regtest", Chain: c, Addresses: fakeAddrs{}}
	_, heads, err := v.Read(context.Background())
	if err != nil || heads[0].Height != 121 || c.calls != 4 {
		t.Fatalf("heads %+v, %d calls, %v", heads, c.calls, err)
	}
	c = fundedChain()
	c.err = errors.New("connection refused")
	if _, _, err := (View{Policy: viewPolicy(), Network: "regtest", Chain: c, Addresses: fakeAddrs{}}).Read(context.Background()); !errors.Is(err, ErrChain) {
		t.Fatalf("chain down: %v", err)
	}
	if _, _, err := (View{Policy: viewPolicy()}).Read(context.Background()); !errors.Is(err, ErrChain) {
		t.Fatalf("no chain: %v", err)
	}
}
