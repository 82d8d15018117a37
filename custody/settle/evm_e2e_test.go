package settle_test

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/evm/gethtest"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/custody/store"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// lazyNonces is a member's store as evm.NonceStore, reached once the
// cluster has opened it.
type lazyNonces func() *store.Store

func (f lazyNonces) HoldNonce(c uint64, a [20]byte, n uint64, id string) error {
	return f().HoldNonce(c, a, n, id)
}
func (f lazyNonces) NonceHolder(c uint64, a [20]byte, n uint64) (string, bool, error) {
	return f().NonceHolder(c, a, n)
}
func (f lazyNonces) NonceHeldBy(c uint64, a [20]byte, id string) (uint64, bool, error) {
	return f().NonceHeldBy(c, a, id)
}
func (f lazyNonces) ReplaceNonce(c uint64, a [20]byte, n uint64, old, id string) error {
	return f().ReplaceNonce(c, a, n, old, id)
}
func (f lazyNonces) NextNonce(c uint64, a [20]byte, from uint64) (uint64, uint64, error) {
	return f().NextNonce(c, a, from)
}

// inflatedNode is an EVM node that reports every account holding far more
// of every token than the chain says (a coordinator whose node lies or lags).
type inflatedNode struct{ evm.Node }

func (n inflatedNode) CallContract(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error) {
	if bytes.HasPrefix(msg.Data, evm.ERC20.Methods["balanceOf"].ID) {
		return common.LeftPadBytes(new(big.Int).Lsh(big.NewInt(1), 200).Bytes(), 32), nil
	}
	return n.Node.CallContract(ctx, msg, block)
}

func (n inflatedNode) EstimateGas(context.Context, ethereum.CallMsg) (uint64, error) {
	return 60_000, nil
}

// evmWorld is a geth --dev chain with the test token, the fixture key's
// child m/0/7 funded with 5000 TUSD and gas.
type evmWorld struct {
	chain        *gethtest.Chain
	token, owner common.Address
	acct         evm.Account
	group        *btcec.PublicKey
	cfg          evm.Config
	policy       custody.Policy
}

func newEVMWorld(t *testing.T) *evmWorld {
	w := &evmWorld{chain: gethtest.Start(t), owner: common.HexToAddress("0x00000000000000000000000000000000000a11ce")}
	b, err := fixtures.Share("custodian")
	if err != nil {
		t.Fatal(err)
	}
	share, err := tss.UnmarshalShare(b)
	if err != nil {
		t.Fatal(err)
	}
	group, err := share.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if w.acct, err = evm.DeriveAccount(group, "m/0/7"); err != nil {
		t.Fatal(err)
	}
	w.token = w.chain.DeployToken(t, "Test USD", "TUSD", 6)
	w.chain.Mint(t, w.token, w.acct.Address, big.NewInt(5_000_000_000))
	w.chain.Fund(t, w.acct.Address, gethtest.Ether(1))
	w.group = group
	w.cfg = evm.Config{ChainID: gethtest.ChainID, MaxFeePerGasWei: 100e9, MaxPriorityFeePerGasWei: 2e9, MaxGas: 200_000, Confirmations: 2}
	w.policy = custody.Policy{
		Accounts: []custody.Account{{ID: st.Account, KeyID: fixtures.KeyID, ChildPath: "m/0/7", OwnerAddress: w.owner.Hex()}},
		Assets: []custody.Asset{{Symbol: "TUSD", Decimals: 6, MaxAmount: 1_000_000_000_000, Class: custody.ClassStablecoin,
			Chain: custody.ChainEVM, ChainID: gethtest.ChainID, Contract: w.token.Hex()}},
	}
	return w
}

// honest is a Chain over the dev chain with the cluster's policy.
func (w *evmWorld) honest(t *testing.T) *evm.Chain {
	t.Helper()
	pol, err := evm.NewPolicy(w.cfg, w.policy)
	if err != nil {
		t.Fatal(err)
	}
	return &evm.Chain{Policy: pol, Node: w.chain.Client, Nonces: evm.NewNonceBook(), GroupKey: func(string) (*btcec.PublicKey, error) { return w.group, nil }}
}

func (w *evmWorld) balance(ctx context.Context, t *testing.T, who common.Address) *big.Int {
	t.Helper()
	b, err := evm.TokenBalance(ctx, w.chain.Client, w.token, who)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// evmCluster is servicetest's three nodes, each with settle.Chains over
// its own evm.Chain on the dev chain (nonces in its own store), the
// fixture key's m/0/7 as acct-1 paying TUSD to its owner. lying names the
// parties whose EVM node inflates balances.
func evmCluster(t *testing.T, w *evmWorld, lying ...custody.Party) *st.Cluster {
	t.Helper()
	return evmClusterWith(t, w, func(p custody.Party) evm.Node {
		for _, l := range lying {
			if l == p {
				return inflatedNode{w.chain.Client}
			}
		}
		return w.chain.Client
	})
}

// evmClusterWith is evmCluster with party p's EVM node nodeOf(p).
func evmClusterWith(t *testing.T, w *evmWorld, nodeOf func(custody.Party) evm.Node) *st.Cluster {
	t.Helper()
	var c *st.Cluster
	cfg := w.cfg
	c = st.New(t, st.Options{
		Policy: func(p custody.Party, pol *custody.Policy) {
			pol.Accounts, pol.Assets = w.policy.Accounts, w.policy.Assets
			pol.SettlementsPerDay = 10
		},
		Service: func(p custody.Party, o *service.Options) {
			pol, err := evm.NewPolicy(cfg, o.Policy)
			if err != nil {
				t.Fatal(err)
			}
			node := nodeOf(p)
			ch := &evm.Chain{Policy: pol, Node: node,
				Nonces: evm.StoredNonces{Store: lazyNonces(func() *store.Store { return c.Svc(p).Store() }), ChainID: cfg.ChainID,
					IsHeld: func(err error) bool { return errors.Is(err, store.ErrNonceHeld) }},
				GroupKey: func(id string) (*btcec.PublicKey, error) {
					share, err := c.Members[p].Keys.Load(context.Background(), id)
					if err != nil {
						return nil, err
					}
					return share.PublicKey()
				}}
			chains := &settle.Chains{EVM: map[uint64]*evm.Chain{cfg.ChainID: ch}, Policy: o.Policy, Broadcast: true,
				Records: lazyRecords(func() *store.Store { return c.Svc(p).Store() }),
				Results: lazyRecords(func() *store.Store { return c.Svc(p).Store() })}
			o.Coins, o.Digester, o.Finalizer, o.Tracker = chains, chains.Digester(service.DefaultDigester), chains.Finalizer(), chains.Tracker()
		},
	})
	return c
}

func tusdRelease(w *evmWorld, idem string, amount uint64) custody.Request {
	r := st.Release(idem, amount)
	r.Asset, r.ChildPath, r.Destination, r.FeeRate = "TUSD", "m/0/7", w.owner.Hex(), 0 // an EVM asset has no Bitcoin fee rate
	return r
}

func approveEVM(t *testing.T, c *st.Cluster, v service.View) {
	t.Helper()
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		c.WaitFor(t, p, v.ID, "stored", func(service.View) bool { return true })
		if _, err := c.Svc(p).Endorse(context.Background(), c.Approval(p, v, custody.Approve, "evm")); err != nil {
			t.Fatal(err)
		}
	}
}

// ../shared/SECURITY.md scenarios 8 and 26 (issue 12): a collateral release of
// 1250.5 TUSD through the custody service of three nodes, each with its
// own EVM view: planned by the coordinator (nonce, fees, gas), checked by
// its partner on its own geth, signed as the EIP-1559 signer hash,
// finalized and broadcast; done only once each node's own geth has the
// receipt two blocks deep (the chain's configured depth). The chain, not
// the status, is the proof: the Transfer log and both balances.
func TestServiceEVMRelease(t *testing.T) {
	w := newEVMWorld(t)
	c := evmCluster(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	v, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), tusdRelease(w, "tusd-1", 1_250_500_000))
	if err != nil {
		t.Fatal(err)
	}
	approveEVM(t, c, v)
	signed := c.WaitFor(t, custody.Custodian, v.ID, "the broadcast", func(v service.View) bool {
		return v.Result != nil && v.Result.Complete && v.Settlement != nil && v.Settlement.Broadcast
	})
	if signed.Result.EVM == nil || len(signed.Result.Inputs) != 0 {
		t.Fatalf("signed without an EVM plan: %+v", signed.Result)
	}
	rc, err := w.chain.WaitReceipt(ctx, common.HexToHash(signed.Settlement.TxID))
	if err != nil {
		t.Fatal(err)
	}
	want := big.NewInt(1_250_500_000)
	found := false
	for _, l := range rc.Logs {
		found = found || l.Address == w.token && len(l.Topics) == 3 && l.Topics[0] == evm.TransferEvent() &&
			common.BytesToAddress(l.Topics[1].Bytes()) == w.acct.Address &&
			common.BytesToAddress(l.Topics[2].Bytes()) == w.owner && new(big.Int).SetBytes(l.Data).Cmp(want) == 0
	}
	if !found {
		t.Fatalf("no Transfer(%s → %s, %s) in %d logs", w.acct.Address.Hex(), w.owner.Hex(), want, len(rc.Logs))
	}
	if got := w.balance(ctx, t, w.owner); got.Cmp(want) != 0 {
		t.Fatalf("owner holds %s, want %s", got, want)
	}
	if got := w.balance(ctx, t, w.acct.Address); got.Cmp(big.NewInt(5_000_000_000-1_250_500_000)) != 0 {
		t.Fatalf("account holds %s after the release", got)
	}
	// One block deep of the two the chain's policy asks: not yet paid.
	c.Tick()
	shallow := c.WaitFor(t, custody.Exchange, v.ID, "one confirmation", func(v service.View) bool {
		return v.Settlement != nil && v.Settlement.Confirmations == 1
	})
	if shallow.Status == custody.StatusDone || shallow.Settlement.TxID != signed.Settlement.TxID {
		t.Fatalf("exchange: %s at one confirmation of two (%+v)", shallow.Status, shallow.Settlement)
	}
	w.chain.Fund(t, w.owner, big.NewInt(1)) // geth --dev seals a block per transaction
	c.Tick()
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		got := c.WaitStatus(t, p, v.ID, custody.StatusDone)
		if got.Settlement == nil || got.Settlement.TxID != signed.Settlement.TxID || got.Settlement.Confirmations < 2 {
			t.Fatalf("%s: settlement %+v", p, got.Settlement)
		}
	}
}

// ../shared/SECURITY.md scenarios 8 and 26 (issue 12): the coordinator's EVM node
// says the account holds more than it does; the partners' own geth shows
// the real balance, so they refuse: nothing is signed, no partner holds
// the nonce, and once the request ends (vetoed) the coordinator's nonce
// is free again.
func TestServiceEVMPartnerRefuses(t *testing.T) {
	w := newEVMWorld(t)
	c := evmCluster(t, w, custody.Custodian)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	before := w.balance(ctx, t, w.owner)
	v, _, err := c.Svc(custody.Custodian).Submit(ctx, st.Caller(service.RoleOperator), tusdRelease(w, "tusd-big", 9_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	approveEVM(t, c, v)
	got := c.WaitFor(t, custody.Custodian, v.ID, "a refusal", func(v service.View) bool {
		return v.Attempts > 0 && strings.Contains(v.Reason, "refuses")
	})
	if got.Result != nil {
		t.Fatalf("signed over the partners' own view: %+v", got.Result)
	}
	plan, ok, err := c.Svc(custody.Custodian).Store().PlanOf(v.ID)
	if err != nil || !ok || plan.EVM == nil {
		t.Fatalf("the coordinator planned nothing: %+v %v %v", plan, ok, err)
	}
	// What the partners refused: the plan, checked on an honest node, is
	// over the account's balance.
	if err := w.honest(t).CheckCustody(ctx, got.Request.WithEVMPlan(plan.EVM)); evm.ReasonOf(err) != evm.ReasonBalance {
		t.Fatalf("the plan on an honest node: %v, want %s", err, evm.ReasonBalance)
	}
	for _, p := range []custody.Party{custody.Exchange, custody.Regulator} {
		if g, _ := c.Svc(p).Get(v.ID); g.Result != nil {
			t.Fatalf("%s holds a signature", p)
		}
		if _, held, _ := c.Svc(p).Store().NonceHeldBy(gethtest.ChainID, w.acct.Address, v.ID); held {
			t.Fatalf("%s holds a nonce for a request it refused", p)
		}
	}
	if _, held, _ := c.Svc(custody.Custodian).Store().NonceHolder(gethtest.ChainID, w.acct.Address, plan.EVM.Nonce); !held {
		t.Fatal("the coordinator does not hold the nonce it planned")
	}
	if _, err := c.Svc(custody.Regulator).Endorse(ctx, c.Approval(custody.Regulator, v, custody.Veto, "no")); err != nil {
		t.Fatal(err)
	}
	// A veto that reaches the custodian during an attempt applies once the
	// attempt has ended, at the next step (a tick, as the daemon's ticker
	// would): wait for both, then tick.
	c.WaitFor(t, custody.Custodian, v.ID, "the veto, no attempt running", func(v service.View) bool {
		return v.Status == custody.StatusVetoed || v.Status != custody.StatusSigning && v.Decision != nil && v.Decision.Has(custody.ReasonVetoed)
	})
	c.Tick()
	c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusVetoed)
	if id, held, _ := c.Svc(custody.Custodian).Store().NonceHolder(gethtest.ChainID, w.acct.Address, plan.EVM.Nonce); held {
		t.Fatalf("a vetoed request still holds nonce %d (%.12s)", plan.EVM.Nonce, id)
	}
	if after := w.balance(ctx, t, w.owner); after.Cmp(before) != 0 {
		t.Fatalf("the owner's balance moved: %s → %s", before, after)
	}
}
