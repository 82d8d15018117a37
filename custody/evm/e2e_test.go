package evm_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/ethereum/go-ethereum/common"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/evm/gethtest"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

// chanConn is an in-process tss.Conn: envelopes go straight to the other
// session's inbox.
type chanConn struct {
	self  string
	boxes map[string]chan tss.Inbound
}

func (c *chanConn) Inbox() <-chan tss.Inbound { return c.boxes[c.self] }

func (c *chanConn) Send(ctx context.Context, to string, env tss.Envelope) error {
	box, ok := c.boxes[to]
	if !ok {
		return fmt.Errorf("no node %s", to)
	}
	select {
	case box <- tss.Inbound{From: c.self, Env: env}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func fixtureShares(t testing.TB) map[string]*tss.KeyShare {
	t.Helper()
	out := map[string]*tss.KeyShare{}
	for _, p := range fixtures.Parties {
		b, err := fixtures.Share(p)
		if err != nil {
			t.Fatal(err)
		}
		if out[p], err = tss.UnmarshalShare(b); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// thresholdSigner signs with Triad's own tss sessions (tss.NewSignSession,
// with the BIP32 delta) between custodian and exchange over the fixture
// key shares, in process, under one deadline. It counts its calls.
func thresholdSigner(t testing.TB, shares map[string]*tss.KeyShare, calls *atomic.Int32) evm.SignFunc {
	return func(ctx context.Context, s *evm.Signing) (*big.Int, *big.Int, error) {
		calls.Add(1)
		signers := []string{"custodian", "exchange"}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		deadline, _ := ctx.Deadline()
		sid := tss.DeriveSessionID(tss.Sign, s.Digest[:], []byte(s.Path))
		boxes := map[string]chan tss.Inbound{}
		for _, n := range signers {
			boxes[n] = make(chan tss.Inbound, 256)
		}
		type result struct {
			sig *tss.Signature
			err error
		}
		done := make(chan result, len(signers))
		for _, n := range signers {
			sess, err := tss.NewSignSession(tss.SignConfig{
				Config: tss.Config{SessionID: sid, Self: tss.Party{ID: n, Node: n}, Deadline: deadline},
				Share:  shares[n], Signers: signers, Digest: s.Digest, Delta: s.Delta,
			})
			if err != nil {
				return nil, nil, err
			}
			go func() {
				err := tss.Run(ctx, sess, &chanConn{self: n, boxes: boxes}, nil)
				if err != nil {
					done <- result{err: err}
					return
				}
				sig, err := sess.Signature()
				done <- result{sig, err}
			}()
		}
		var sig *tss.Signature
		for range signers {
			r := <-done
			if r.err != nil {
				return nil, nil, r.err
			}
			sig = r.sig
		}
		return sig.R, sig.S, nil
	}
}

// env is a dev chain with the test token, the fixture group key's child
// account m/0/7 funded with tokens and ether, and one node's Chain.
type env struct {
	chain   *gethtest.Chain
	token   common.Address
	group   *btcec.PublicKey
	acct    evm.Account
	owner   common.Address
	liq     common.Address
	cfg     evm.Config
	party   custody.Policy
	shares  map[string]*tss.KeyShare
	minted  *big.Int
	signers atomic.Int32
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{chain: gethtest.Start(t), shares: fixtureShares(t)}
	var err error
	if e.group, err = e.shares["custodian"].PublicKey(); err != nil {
		t.Fatal(err)
	}
	if e.acct, err = evm.DeriveAccount(e.group, "m/0/7"); err != nil {
		t.Fatal(err)
	}
	e.token = e.chain.DeployToken(t, "Test USD", "TUSD", 6)
	e.minted = big.NewInt(5_000_000_000) // 5000 TUSD
	e.chain.Mint(t, e.token, e.acct.Address, e.minted)
	e.chain.Fund(t, e.acct.Address, gethtest.Ether(1))
	e.owner = common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	e.liq = common.HexToAddress("0x00000000000000000000000000000000000b0b00")
	e.cfg = evm.Config{ChainID: gethtest.ChainID, MaxFeePerGasWei: 100e9, MaxPriorityFeePerGasWei: 2e9, MaxGas: 200_000, Confirmations: 1}
	e.party = custody.Policy{
		LiquidationAddress: e.liq.Hex(),
		Assets: []custody.Asset{{Symbol: "TUSD", Decimals: 6, MaxAmount: 1_000_000_000_000, Class: custody.ClassStablecoin,
			Chain: custody.ChainEVM, ChainID: gethtest.ChainID, Contract: e.token.Hex()}},
		Accounts: []custody.Account{{ID: "acct-1", KeyID: fixtures.KeyID, ChildPath: "m/0/7", OwnerAddress: e.owner.Hex()}},
	}
	return e
}

// node returns one node's Chain over the dev chain with policy cfg/party.
func (e *env) node(t *testing.T, cfg evm.Config, party custody.Policy, book *evm.NonceBook) *evm.Chain {
	t.Helper()
	pol, err := evm.NewPolicy(cfg, party)
	if err != nil {
		t.Fatal(err)
	}
	return &evm.Chain{Policy: pol, Node: e.chain.Client, Nonces: book, GroupKey: func(id string) (*btcec.PublicKey, error) {
		if id != fixtures.KeyID {
			return nil, errors.New("no such key")
		}
		return e.group, nil
	}}
}

// plan is a coordinator's plan for req with the shared policy.
func (e *env) plan(ctx context.Context, t *testing.T, req evm.Request) *evm.Plan {
	t.Helper()
	p, err := e.node(t, e.cfg, e.party, evm.NewNonceBook()).Plan(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func release(id, to, amount string) evm.Request {
	return evm.Request{ID: id, Kind: custody.KindRelease, Account: "acct-1", Asset: "TUSD", To: to, Amount: amount}
}

// TestThresholdERC20Transfer: a release of 1250.5 TUSD from the child
// account m/0/7 of the fixture group key, planned by one node, checked by
// a second with its own policy and nonce book, signed by a 2-of-3 tss
// session with the BIP32 delta, lands on geth with the Transfer log
// (../shared/SECURITY.md scenarios 8 and 26: every signer checks the chain itself).
func TestThresholdERC20Transfer(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	coord := e.node(t, e.cfg, e.party, evm.NewNonceBook())
	partner := e.node(t, e.cfg, e.party, evm.NewNonceBook())
	req := release("req-1", e.owner.Hex(), "1250.5")
	plan, err := coord.Plan(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coord.Authorize(ctx, req, plan); err != nil {
		t.Fatalf("coordinator refuses its own plan: %v", err)
	}
	tx, err := partner.Sign(ctx, req, plan, thresholdSigner(t, e.shares, &e.signers))
	if err != nil {
		t.Fatal(err)
	}
	hash, err := partner.Broadcast(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := e.chain.WaitReceipt(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	depth, _, err := partner.Confirmations(ctx, hash)
	if err != nil || depth < 1 {
		t.Fatalf("confirmations %d, %v", depth, err)
	}
	t.Logf("ERC-20 release end to end (plan, two checks, threshold signature, broadcast, mined): %v", time.Since(start).Round(time.Millisecond))
	want := big.NewInt(1_250_500_000)
	var found bool
	for _, l := range rc.Logs {
		if l.Address == e.token && len(l.Topics) == 3 && l.Topics[0] == evm.TransferEvent() &&
			common.BytesToAddress(l.Topics[1].Bytes()) == e.acct.Address &&
			common.BytesToAddress(l.Topics[2].Bytes()) == e.owner && new(big.Int).SetBytes(l.Data).Cmp(want) == 0 {
			found = true
		}
	}
	if !found {
		t.Fatalf("no Transfer(%s → %s, %s) log in %d logs", e.acct.Address.Hex(), e.owner.Hex(), want, len(rc.Logs))
	}
	bal, err := evm.TokenBalance(ctx, e.chain.Client, e.token, e.owner)
	if err != nil || bal.Cmp(want) != 0 {
		t.Fatalf("owner balance %v, %v", bal, err)
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	view, err := evm.Describe(raw)
	if err == nil {
		err = view.Resolve(ctx, e.chain.Client)
	}
	if err != nil || view.Symbol != "TUSD" || view.AmountHuman != "1250.5" || view.From != e.acct.Address.Hex() || view.Recipient != e.owner.Hex() {
		t.Fatalf("operator view %+v, %v", view, err)
	}
	if e.signers.Load() != 1 {
		t.Fatalf("%d signing sessions, want 1", e.signers.Load())
	}
	// The paid nonce is used now: the same plan again is refused.
	if _, err := partner.Sign(ctx, req, plan, thresholdSigner(t, e.shares, &e.signers)); evm.ReasonOf(err) != evm.ReasonNonceUsed {
		t.Fatalf("replaying the paid plan: %v, want %s", err, evm.ReasonNonceUsed)
	}
}

// TestThresholdNativeTransfer: a plain value transfer (gas money) from the
// child account, threshold-signed, lands with the exact value; the partner
// refuses a plan that moves more than the request (../shared/SECURITY.md scenario 8).
func TestThresholdNativeTransfer(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	party := e.party
	party.Assets = append(party.Assets, custody.Asset{Symbol: "ETH", Decimals: 18, MaxAmount: 1e18,
		Chain: custody.ChainEVM, ChainID: gethtest.ChainID})
	node := e.node(t, e.cfg, party, evm.NewNonceBook())
	req := evm.Request{ID: "req-eth", Kind: custody.KindRelease, Account: "acct-1", Asset: "ETH", To: e.owner.Hex(), Amount: "0.25"}
	plan, err := node.Plan(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Data) != 0 || plan.To != e.owner || plan.Value.String() != "250000000000000000" {
		t.Fatalf("plan %+v is not a plain transfer of 0.25 ether to the owner", plan)
	}
	more := clonePlan(plan)
	more.Value = new(big.Int).Add(plan.Value, big.NewInt(1))
	if _, err := node.Sign(ctx, req, more, thresholdSigner(t, e.shares, &e.signers)); evm.ReasonOf(err) != evm.ReasonAmount || e.signers.Load() != 0 {
		t.Fatalf("a plan moving more than asked: %v (%d sessions)", err, e.signers.Load())
	}
	tx, err := node.Sign(ctx, req, plan, thresholdSigner(t, e.shares, &e.signers))
	if err != nil {
		t.Fatal(err)
	}
	hash, err := node.Broadcast(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := e.chain.WaitReceipt(ctx, hash); err != nil || rc.Status != 1 {
		t.Fatalf("receipt %v, %v", rc, err)
	}
	got, err := e.chain.Client.BalanceAt(ctx, e.owner, nil)
	if err != nil || got.Cmp(plan.Value) != 0 {
		t.Fatalf("owner holds %v wei, %v; want %s", got, err, plan.Value)
	}
}
