package settle_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/evm/gethtest"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// cheapNode is an EVM node that, while cheap is set, reports a base fee
// and tip of 1 wei: the coordinator plans fee caps no block will take.
type cheapNode struct {
	evm.Node
	cheap *atomic.Bool
}

func (n cheapNode) HeaderByNumber(ctx context.Context, num *big.Int) (*types.Header, error) {
	h, err := n.Node.HeaderByNumber(ctx, num)
	if err != nil || num != nil || !n.cheap.Load() {
		return h, err
	}
	h = types.CopyHeader(h)
	h.BaseFee = big.NewInt(1)
	return h, nil
}

func (n cheapNode) SuggestGasTipCap(ctx context.Context) (*big.Int, error) {
	if n.cheap.Load() {
		return big.NewInt(1), nil
	}
	return n.Node.SuggestGasTipCap(ctx)
}

// ../shared/SECURITY.md scenarios 8 and 27 (issue 12): a release signed with fee
// caps under the base fee is stuck in geth's pool. A second request for
// the same transfer that names it (Replaces), approved by both operators,
// is planned by the coordinator at the stuck nonce with higher fees,
// checked by the partner on its own geth as a replacement, signed and
// mined; the stuck transaction never is, the owner is paid once, and each
// node marks the stuck request replaced by the new one.
func TestServiceEVMReplacement(t *testing.T) {
	w := newEVMWorld(t)
	var cheap atomic.Bool
	cheap.Store(true)
	c := evmClusterWith(t, w, func(p custody.Party) evm.Node {
		if p == custody.Custodian {
			return cheapNode{w.chain.Client, &cheap}
		}
		return w.chain.Client
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	before := w.balance(ctx, t, w.owner)
	submit := func(idem, replaces string) service.View {
		r := tusdRelease(w, idem, 100_000_000)
		r.Replaces = replaces
		v, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), r)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
			c.WaitFor(t, p, v.ID, "stored", func(service.View) bool { return true })
			if _, err := c.Svc(p).Endorse(ctx, c.Approval(p, v, custody.Approve, idem)); err != nil {
				t.Fatal(err)
			}
		}
		return c.WaitFor(t, custody.Custodian, v.ID, "the broadcast", func(v service.View) bool {
			return v.Result != nil && v.Result.Complete && v.Settlement != nil && v.Settlement.Broadcast
		})
	}
	stuck := submit("tusd-stuck", "")
	w.chain.Fund(t, w.owner, big.NewInt(1)) // a block after it; it is not in it
	if _, err := w.chain.Client.TransactionReceipt(ctx, common.HexToHash(stuck.Settlement.TxID)); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("the cheap transaction was mined (%v): nothing is stuck", err)
	}
	cheap.Store(false)
	repl := submit("tusd-replacement", stuck.ID)
	if repl.Result.EVM.Nonce != stuck.Result.EVM.Nonce {
		t.Fatalf("replacement at nonce %d, the stuck transaction at %d", repl.Result.EVM.Nonce, stuck.Result.EVM.Nonce)
	}
	rc, err := w.chain.WaitReceipt(ctx, common.HexToHash(repl.Settlement.TxID))
	if err != nil || rc.Status != 1 {
		t.Fatalf("replacement receipt %v, %v", rc, err)
	}
	w.chain.Fund(t, w.owner, big.NewInt(1)) // two blocks deep
	c.Tick()
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		c.WaitStatus(t, p, repl.ID, custody.StatusDone)
		got := c.WaitFor(t, p, stuck.ID, "the stuck request marked replaced", func(v service.View) bool {
			return v.Settlement != nil && strings.Contains(v.Settlement.Error, "replaced")
		})
		if got.Status == custody.StatusDone || !strings.Contains(got.Settlement.Error, repl.ID[:12]) {
			t.Fatalf("%s: the stuck request is %s, %+v", p, got.Status, got.Settlement)
		}
	}
	if _, err := w.chain.Client.TransactionReceipt(ctx, common.HexToHash(stuck.Settlement.TxID)); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("the stuck transaction was mined too: %v", err)
	}
	if got := w.balance(ctx, t, w.owner); new(big.Int).Sub(got, before).Cmp(big.NewInt(100_000_000)) != 0 {
		t.Fatalf("the owner got %s, want 100 TUSD once", new(big.Int).Sub(got, before))
	}
	if id, held, _ := c.Svc(custody.Exchange).Store().NonceHolder(gethtest.ChainID, w.acct.Address, stuck.Result.EVM.Nonce); !held || id != repl.ID {
		t.Fatalf("the exchange's nonce hold is %.12s %v, want the replacement", id, held)
	}
}
