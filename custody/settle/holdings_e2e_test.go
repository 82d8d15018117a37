package settle_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/nodetest"
)

// attestKey is the attestation key of this test. It is the fixture
// sharing saved under a second key ID (tss/fixtures holds one sharing and
// a test may not run a DKG); a real attestation key has its own DKG.
const attestKey = "attest-1"

// Issue 13, end to end on btcd regtest through three nodes' custody
// services: two client accounts funded (the pool by mining, client-7 by a
// release), a snapshot of each node's own chain view signed 2-of-3 by the
// attestation key, both proofs verified offline against its group key and
// priced into credit; then client-7 is liquidated, and the next snapshot's
// proof and credit show what is left.
func TestHoldingsRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd and runs threshold signatures")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := newWorld(t)
	chain := regtest(ctx, t, w.pool)
	seed := sha256.Sum256([]byte("oracle"))
	oracle := ed25519.NewKeyFromSeed(seed[:])
	var c *st.Cluster
	views, pols := map[custody.Party]holdings.View{}, map[custody.Party]custody.Policy{}
	var settlers map[custody.Party]*settle.Settler
	c, settlers = settledClusterWith(t, w, chain.Client, nil, func(o *st.Options) {
		prev := o.Policy
		o.Policy = func(p custody.Party, pol *custody.Policy) {
			prev(p, pol)
			pol.Keys = append(pol.Keys, custody.KeyConfig{ID: attestKey, Role: custody.RoleAttestation})
			pol.PriceKeys = []string{hex.EncodeToString(oracle.Public().(ed25519.PublicKey))}
			pols[p] = *pol
		}
		o.Authorizer = func(p custody.Party, next node.Authorizer) node.Authorizer {
			// c is set once New returns: the closures below run later.
			views[p] = holdings.View{Policy: w.policyFor(string(p)), Network: network, Chain: chain.Client, Addresses: lazyAddrs(func() *settle.Settler { return settlers[p] }),
				Reserved: func(ins []custody.Input) ([]custody.Input, error) { return c.Svc(p).Store().Reserved("", ins) }}
			return holdings.Authorizer{Policy: pols[p], View: views[p], Next: next,
				Now: func() time.Time { return c.Members[p].Clock.Now() }}
		}
	})
	for _, p := range custody.Parties {
		share := nodetest.Share(t, string(p))
		share.KeyID = attestKey
		if err := c.Members[p].Keys.Save(ctx, share); err != nil {
			t.Fatal(err)
		}
	}
	cust := c.Members[custody.Custodian]
	att := &holdings.Attester{KeyID: attestKey, View: views[custody.Custodian], Signer: cust.Node, Keys: cust.Keys, Now: cust.Clock.Now}
	pub, err := att.GroupKey(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Fund client-7 with 60 BTC from the pool.
	v := submitApprovedRelease(ctx, t, c, settlers, release(w, 60*btcutil.SatoshiPerBitcoin, 4), "rel")
	confirmPaid(ctx, t, c, chain, settlers, v.ID, custody.Parties...)

	snapshot := func() map[string]holdings.AccountProof {
		t.Helper()
		if _, err := att.Attest(ctx); err != nil {
			t.Fatalf("attesting: %v", err)
		}
		out := map[string]holdings.AccountProof{}
		for _, acct := range []string{"pool", "client-7"} {
			p, err := att.Proof(acct)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(p) // as served and as `triad proof verify` reads it
			q, err := holdings.DecodeProof(b, 1<<20)
			if err != nil || q.Verify(pub) != nil {
				t.Fatalf("%s: proof does not verify offline: %v %v", acct, err, q.Verify(pub))
			}
			want, err := chain.Client.Balance(ctx, map[string]string{"pool": w.pool, "client-7": w.client}[acct], 1)
			if err != nil || q.Entries[0].Leaf.Amount.Cmp(big.NewInt(int64(want))) != 0 {
				t.Fatalf("%s: proof says %v, btcd %v (%v)", acct, q.Entries[0].Leaf.Amount, want, err)
			}
			out[acct] = q
		}
		return out
	}
	credit := func(p holdings.AccountProof) holdings.Credit {
		t.Helper()
		now := c.Members[custody.Exchange].Clock.Now()
		prices := holdings.SignPrices(holdings.PriceInput{Quote: "USD", Time: now, Prices: []holdings.AssetPrice{{Asset: "BTC", Price: 6_000_000}}}, oracle)
		cr, err := holdings.CreditFor(pols[custody.Exchange], p, pub, prices, now)
		if err != nil {
			t.Fatal(err)
		}
		return cr
	}
	before := snapshot()
	if a := before["client-7"].Entries[0].Leaf.Amount; a.Int64() != 60*btcutil.SatoshiPerBitcoin {
		t.Fatalf("client-7 holds %v", a)
	}
	if cr := credit(before["client-7"]); cr.Collateral != "360000000" || cr.Limit != "720000000" { // 60 BTC × $60,000, 2×
		t.Fatalf("credit before: %+v", cr)
	}

	// Liquidate 20 BTC of client-7.
	liq, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleMarginEngine), marginCall(w, "liq-h", 20*btcutil.SatoshiPerBitcoin))
	if err != nil {
		t.Fatal(err)
	}
	done := confirmPaid(ctx, t, c, chain, settlers, liq.ID, custody.Custodian, custody.Exchange)
	for _, p := range custody.Parties {
		c.Members[p].Clock.Advance(time.Minute)
	}
	after := snapshot()
	left := after["client-7"].Entries[0].Leaf.Amount.Int64()
	if left >= 40*btcutil.SatoshiPerBitcoin || left < 40*btcutil.SatoshiPerBitcoin-100_000 {
		t.Fatalf("client-7 holds %d after a 20 BTC liquidation (%+v)", left, done.Settlement)
	}
	if cr := credit(after["client-7"]); cr.Collateral != big.NewInt(left*6/100).String() {
		t.Fatalf("credit after: %+v, %d sat left", cr, left)
	}
	// The old proof is another snapshot's: it does not pass as the new one.
	old := before["client-7"]
	old.Attestation = after["client-7"].Attestation
	if err := old.Verify(pub); err == nil {
		t.Fatal("the earlier snapshot's proof verifies under the later signature")
	}
}

// lazyAddrs reaches a member's settler, which the cluster makes after its
// hooks are set.
type lazyAddrs func() *settle.Settler

func (f lazyAddrs) Address(ctx context.Context, keyID, path string) (string, error) {
	return f().Address(ctx, keyID, path)
}
