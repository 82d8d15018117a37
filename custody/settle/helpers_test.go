package settle_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/nodetest"
	"github.com/triad-custody/triad/tss"
	"github.com/triad-custody/triad/tss/fixtures"
)

const network = "regtest"

// fixtureKeys serves the fixture share of one party (public key only is
// used here).
type fixtureKeys struct{ share *tss.KeyShare }

func (k fixtureKeys) Load(_ context.Context, id string) (*tss.KeyShare, error) {
	if id != fixtures.KeyID {
		return nil, fmt.Errorf("no share of %s", id)
	}
	return k.share, nil
}

func fixtureShare(t testing.TB, party string) *tss.KeyShare {
	t.Helper()
	return nodetest.Share(t, party)
}

func fixturePub(t testing.TB) *btcec.PublicKey {
	t.Helper()
	pub, err := fixtureShare(t, "custodian").PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// addrOf is the regtest P2WPKH address of the fixture key along path.
func addrOf(t testing.TB, path string) string {
	t.Helper()
	k, err := settle.DeriveAddressKey(fixturePub(t), path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := btc.CustodyAddress(k, network)
	if err != nil {
		t.Fatal(err)
	}
	return a.String()
}

// outsider is the address of a key that is not Triad's (a client's own
// wallet, the lender's liquidation address).
func outsider(t testing.TB, label string) string {
	t.Helper()
	h := sha256.Sum256([]byte(label))
	priv, _ := btcec.PrivKeyFromBytes(h[:])
	a, err := btc.CustodyAddress(priv.PubKey(), network)
	if err != nil {
		t.Fatal(err)
	}
	return a.String()
}

const clientPath = "m/0/7"

// world is the test's addresses and policy: account "pool" is held by the
// fixture group key and releases into client 7's segregated child address;
// account "client-7" is that child key, owned by a borrower, liquidated
// to a lender.
type world struct {
	pool, client, borrower, lender, attacker string
	policy                                   custody.Policy
}

func newWorld(t testing.TB) world {
	w := world{pool: addrOf(t, ""), client: addrOf(t, clientPath), borrower: outsider(t, "borrower"),
		lender: outsider(t, "lender"), attacker: outsider(t, "attacker")}
	p := custody.DefaultPolicy(custody.Custodian)
	p.MaxFeeRate = 50
	p.Keys = []custody.KeyConfig{{ID: fixtures.KeyID, Role: custody.RoleCustody}}
	p.Accounts = []custody.Account{
		{ID: "pool", KeyID: fixtures.KeyID, OwnerAddress: w.client},
		{ID: "client-7", KeyID: fixtures.KeyID, ChildPath: clientPath, OwnerAddress: w.borrower, LiquidationAddress: w.lender},
	}
	p.Assets = []custody.Asset{{Symbol: "BTC", Decimals: 8, MaxAmount: 100_00000000, CollateralFactorBps: 10000}}
	w.policy = p
	return w
}

// policyFor is the world's policy as party holds it.
func (w world) policyFor(party string) custody.Policy {
	p := w.policy
	p.Party = custody.Party(party)
	return p
}

func newSettler(t testing.TB, w world, party string, keys settle.KeyLoader, chain settle.Chain) *settle.Settler {
	t.Helper()
	s, err := settle.New(settle.Config{Network: network, Policy: w.policyFor(party), Keys: keys, Chain: chain,
		Broadcast: chain != nil, Records: &settle.MemoryRecords{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var created = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func release(w world, amount uint64, feeRate uint64, inputs ...custody.Input) custody.Request {
	return custody.Request{Kind: custody.KindRelease, IdempotencyKey: fmt.Sprintf("release-%d-%d", amount, feeRate),
		Requester: custody.Requester{Party: custody.Custodian, Caller: "ops"}, Account: "pool",
		KeyID: fixtures.KeyID, Asset: "BTC", Destination: w.client, Amount: amount, FeeRate: feeRate,
		CreatedAt: created, Inputs: inputs}.Normalize()
}

func liquidation(w world, amount, feeRate uint64) custody.Request {
	ev := custody.MarginCall{Account: "client-7", Asset: "BTC", Shortfall: amount,
		Collateral: []custody.Holding{{Asset: "BTC", Value: amount}}, Exposure: amount, Price: 1,
		Time: created, Nonce: "mc-1"}
	ev = custody.SignMarginCall(ev, ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	return custody.Request{Kind: custody.KindLiquidation, IdempotencyKey: "liq-1",
		Requester: custody.Requester{Party: custody.Exchange, Caller: "margin-engine"}, Account: "client-7",
		KeyID: fixtures.KeyID, ChildPath: clientPath, Asset: "BTC", Destination: w.lender, Amount: amount,
		FeeRate: feeRate, CreatedAt: created, Evidence: &ev}.Normalize()
}

func unfreeze(w world, amount, feeRate uint64) custody.Request {
	return custody.Request{Kind: custody.KindUnfreeze, IdempotencyKey: "unfreeze-1",
		Requester: custody.Requester{Party: custody.Regulator, Caller: "supervisor"}, Account: "client-7",
		KeyID: fixtures.KeyID, ChildPath: clientPath, Asset: "BTC", Destination: w.borrower, Amount: amount,
		FeeRate: feeRate, Reason: "exchange unreachable for 30 hours", CreatedAt: created}.Normalize()
}

func coin(label string, vout uint32, value uint64) custody.Input {
	h := sha256.Sum256([]byte(label))
	return custody.Input{TxID: fmt.Sprintf("%x", h), Vout: vout, Value: value}
}

// switchable lets a test turn one node dishonest: it then authorizes
// whatever it is asked (it signs a transaction it built its own way).
type switchable struct {
	honest node.Authorizer
	evil   atomic.Bool
}

func (a *switchable) AuthorizeSign(ctx context.Context, keyID string, p *node.Proposal) error {
	if a.evil.Load() {
		return nil
	}
	return a.honest.AuthorizeSign(ctx, keyID, p)
}
