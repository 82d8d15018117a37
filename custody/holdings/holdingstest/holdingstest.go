package holdingstest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/tss/fixtures"
)

// Chain is one node's Bitcoin node as its holdings view sees it: a fixed
// head at Height and one coin per address.
type Chain struct {
	mu    sync.Mutex
	coins map[string][]btc.Unspent
	err   error
}

// Fail makes every read of the chain fail with err (nil: read again).
func (c *Chain) Fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// Height is the fake chain's height.
const Height = 150

// BestBlock implements holdings.Chain.
func (c *Chain) BestBlock(context.Context) (int64, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, "", c.err
	}
	return Height, strings.Repeat("ab", 32), nil
}

// ListUnspent implements holdings.Chain.
func (c *Chain) ListUnspent(_ context.Context, addr string, _ int64) ([]btc.Unspent, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.coins[addr], c.err
}

// Set gives account's address one coin of value satoshis.
func (c *Chain) Set(account string, value int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.coins == nil {
		c.coins = map[string][]btc.Unspent{}
	}
	c.coins[Address(account)] = []btc.Unspent{{UTXO: btc.UTXO{OutPoint: wire.OutPoint{Hash: chainhash.Hash{byte(value)}}, Value: value}, Confirmations: 6}}
}

// Addresses derives "addr:<account's child path>".
type Addresses struct{}

// Address implements holdings.Addresses.
func (Addresses) Address(_ context.Context, _, path string) (string, error) {
	return "addr:" + path, nil
}

// Address is the fake address of an account of Policy.
func Address(account string) string {
	for _, a := range Policy().Accounts {
		if a.ID == account {
			return "addr:" + a.ChildPath
		}
	}
	return "addr:?"
}

// Policy lists the client accounts the views read: acct-1 and acct-2 on a
// custody key.
func Policy() custody.Policy {
	p := custody.DefaultPolicy(custody.Custodian)
	p.Keys = []custody.KeyConfig{{ID: "vault-1", Role: custody.RoleCustody}}
	p.Accounts = []custody.Account{
		{ID: "acct-1", KeyID: "vault-1", ChildPath: "m/0/1", OwnerAddress: "o1"},
		{ID: "acct-2", KeyID: "vault-1", ChildPath: "m/0/2", OwnerAddress: "o2"},
	}
	return p
}

// View is a holdings view of Policy's accounts on chain.
func View(chain *Chain) holdings.View {
	return holdings.View{Policy: Policy(), Network: "regtest", Chain: chain, Addresses: Addresses{}}
}

// Cluster is three nodes holding the fixture key as their attestation key,
// each with its own chain (acct-1: 120000 sat, acct-2: 9000 sat) and a
// holdings.Authorizer in front of its custody service. o's Policy and
// Authorizer hooks run after this package's.
func Cluster(t testing.TB, o servicetest.Options) (*servicetest.Cluster, map[custody.Party]*Chain) {
	chains := map[custody.Party]*Chain{}
	for _, p := range custody.Parties {
		chains[p] = &Chain{}
		chains[p].Set("acct-1", 120_000)
		chains[p].Set("acct-2", 9_000)
	}
	var c *servicetest.Cluster
	pols := map[custody.Party]custody.Policy{}
	polHook, authHook := o.Policy, o.Authorizer
	o.Policy = func(p custody.Party, pol *custody.Policy) {
		pol.Keys = []custody.KeyConfig{{ID: fixtures.KeyID, Role: custody.RoleAttestation}}
		pol.Accounts = nil
		if polHook != nil {
			polHook(p, pol)
		}
		pols[p] = *pol
	}
	o.Authorizer = func(p custody.Party, next node.Authorizer) node.Authorizer {
		var auth node.Authorizer = holdings.Authorizer{Policy: pols[p], Next: next, View: View(chains[p]),
			Now: func() time.Time { return c.Members[p].Clock.Now() }} // c is set once New returns, before any signing
		if authHook != nil {
			auth = authHook(p, auth)
		}
		return auth
	}
	c = servicetest.New(t, o)
	return c, chains
}

// Attester is the custodian's attester in c.
func Attester(c *servicetest.Cluster, chains map[custody.Party]*Chain) *holdings.Attester {
	m := c.Members[custody.Custodian]
	return &holdings.Attester{KeyID: fixtures.KeyID, Signer: m.Node, Keys: m.Keys, Now: m.Clock.Now, View: View(chains[custody.Custodian])}
}
