package settle_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/evm/gethtest"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// ../shared/SECURITY.md scenario 8 (issue 12): an 18-decimal token's amounts run
// past custody.MaxAmount (2^53−1). A release of 10^24 base units (one
// million tokens) is carried exactly, as a decimal string (units), from
// the request through every node's check, digest, plan and view to the
// Transfer log on geth.
func TestServiceEVMUnitsOver53Bits(t *testing.T) {
	w := newEVMWorld(t)
	fund := w.chain.DeployToken(t, "Test Fund", "TFND", 18)
	million, _ := new(big.Int).SetString("1000000000000000000000000", 10) // 10^24
	w.chain.Mint(t, fund, w.acct.Address, new(big.Int).Lsh(million, 1))
	w.policy.Assets = append(w.policy.Assets, custody.Asset{Symbol: "TFND", Decimals: 18, MaxUnits: million.String(),
		Class: custody.ClassMMF, Chain: custody.ChainEVM, ChainID: gethtest.ChainID, Contract: fund.Hex()})
	c := evmCluster(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := tusdRelease(w, "tfnd-million", 0)
	r.Asset, r.Amount, r.Units = "TFND", 0, million.String()
	v, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), r)
	if err != nil {
		t.Fatal(err)
	}
	approveEVM(t, c, v)
	signed := c.WaitFor(t, custody.Custodian, v.ID, "the broadcast", func(v service.View) bool {
		return v.Result != nil && v.Result.Complete && v.Settlement != nil && v.Settlement.Broadcast
	})
	rc, err := w.chain.WaitReceipt(ctx, common.HexToHash(signed.Settlement.TxID))
	if err != nil || rc.Status != 1 {
		t.Fatalf("receipt %v, %v", rc, err)
	}
	var moved *big.Int
	for _, l := range rc.Logs {
		if l.Address == fund && len(l.Topics) == 3 && l.Topics[0] == evm.TransferEvent() && common.BytesToAddress(l.Topics[2].Bytes()) == w.owner {
			moved = new(big.Int).SetBytes(l.Data)
		}
	}
	if moved == nil || moved.Cmp(million) != 0 {
		t.Fatalf("Transfer to the owner of %v base units, want %s", moved, million)
	}
	w.chain.Fund(t, w.owner, big.NewInt(1)) // two blocks deep
	c.Tick()
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		got := c.WaitStatus(t, p, v.ID, custody.StatusDone)
		if got.Request.Units != million.String() || got.Request.Amount != 0 || got.Request.BaseUnits().Cmp(million) != 0 {
			t.Fatalf("%s views units %q amount %d", p, got.Request.Units, got.Request.Amount)
		}
	}
}
