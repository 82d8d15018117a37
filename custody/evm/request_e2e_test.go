package evm_test

import (
	"bytes"
	"context"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/store"
	"github.com/triad-custody/triad/tss/fixtures"
)

// richNode is an EVM node that reports every account holding far more of
// every token than the chain says: a coordinator whose node lies (or lags).
type richNode struct{ evm.Node }

func (n richNode) CallContract(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error) {
	if bytes.HasPrefix(msg.Data, evm.ERC20.Methods["balanceOf"].ID) {
		return common.LeftPadBytes(new(big.Int).Lsh(big.NewInt(1), 200).Bytes(), 32), nil
	}
	return n.Node.CallContract(ctx, msg, block)
}

// EstimateGas: a transfer the real chain would revert costs what one that
// succeeds does, as far as this node knows.
func (n richNode) EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error) {
	return 60_000, nil
}

// custodyRelease is the typed request of a TUSD release of amount base
// units from acct-1 to e.owner, stored in s.
func custodyRelease(t *testing.T, e *env, s *store.Store, key string, amount uint64) custody.Request {
	t.Helper()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := custody.Request{Kind: custody.KindRelease, IdempotencyKey: key,
		Requester: custody.Requester{Party: custody.Exchange, Caller: "test"}, Account: "acct-1", KeyID: fixtures.KeyID,
		ChildPath: "m/0/7", Asset: "TUSD", Destination: e.owner.Hex(), Amount: amount, FeeRate: 1, CreatedAt: now}
	if _, _, err := s.Propose(r, now); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCustodyRequestERC20: a typed custody request travels with only the
// coordinator's choices (custody.EVMPlan: nonce, fees, gas) in its
// canonical payload; the partner decodes it, rebuilds the transaction
// from the request and its own policy, checks it against its own EVM node
// and holds the nonce in its own store, then the two sign it with the
// threshold key; the coordinator finalizes from its own rebuild and the
// chain shows the Transfer log. A signer whose own node sees the real
// balance refuses a request for more than the account holds, though the
// coordinator's node said it was there: nothing is signed and no nonce
// held (../shared/SECURITY.md scenarios 8 and 26).
func TestCustodyRequestERC20(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stores := map[string]*store.Store{}
	for _, p := range []custody.Party{custody.Custodian, custody.Exchange} {
		s, err := store.Open(filepath.Join(t.TempDir(), string(p)+".db"), p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[string(p)] = s
	}
	coord, partner := e.node(t, e.cfg, e.party, nil), e.node(t, e.cfg, e.party, nil)
	coord.Nonces, partner.Nonces = storedNonces(stores["custodian"]), storedNonces(stores["exchange"])

	r := custodyRelease(t, e, stores["custodian"], "rel-1", 1_250_500_000)
	custodyRelease(t, e, stores["exchange"], "rel-1", 1_250_500_000)
	planned, err := coord.PlanCustody(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	own, _, err := coord.AuthorizeCustody(ctx, planned)
	if err != nil {
		t.Fatalf("coordinator refuses its own plan: %v", err)
	}
	payload, err := custody.DecodeCanonicalRequest(planned.Canonical()) // as the partner receives it
	if err != nil || payload.EVM == nil || payload.ID() != r.ID() {
		t.Fatalf("payload: %+v, %v", payload.EVM, err)
	}
	theirs, _, err := partner.AuthorizeCustody(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	if theirs.Digest != own.Digest {
		t.Fatal("the partner's rebuilt transaction differs from the coordinator's")
	}
	if n, ok, err := stores["exchange"].NonceHeldBy(e.cfg.ChainID, e.acct.Address, r.ID()); err != nil || !ok || n != planned.EVM.Nonce {
		t.Fatalf("partner's store holds nonce %d %v %v, want %d", n, ok, err, planned.EVM.Nonce)
	}
	sr, ss, err := thresholdSigner(t, e.shares, &e.signers)(ctx, theirs)
	if err != nil {
		t.Fatal(err)
	}
	hash, raw, err := coord.FinalizeCustody(planned, sr, ss)
	if err != nil {
		t.Fatal(err)
	}
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	if _, err := coord.Broadcast(ctx, tx); err != nil {
		t.Fatal(err)
	}
	rc, err := e.chain.WaitReceipt(ctx, common.HexToHash(hash))
	if err != nil {
		t.Fatal(err)
	}
	want := big.NewInt(1_250_500_000)
	found := false
	for _, l := range rc.Logs {
		found = found || l.Address == e.token && len(l.Topics) == 3 && l.Topics[0] == evm.TransferEvent() &&
			common.BytesToAddress(l.Topics[1].Bytes()) == e.acct.Address &&
			common.BytesToAddress(l.Topics[2].Bytes()) == e.owner && new(big.Int).SetBytes(l.Data).Cmp(want) == 0
	}
	if !found {
		t.Fatalf("no Transfer(%s → %s, %s) in %d logs", e.acct.Address.Hex(), e.owner.Hex(), want, len(rc.Logs))
	}

	// The coordinator's node says the account holds more than it does.
	liar := e.node(t, e.cfg, e.party, nil)
	liar.Nonces, liar.Node = storedNonces(stores["custodian"]), richNode{e.chain.Client}
	over := custodyRelease(t, e, stores["custodian"], "rel-big", e.minted.Uint64())
	custodyRelease(t, e, stores["exchange"], "rel-big", e.minted.Uint64())
	plannedBig, err := liar.PlanCustody(ctx, over)
	if err != nil {
		t.Fatalf("the lying node plans: %v", err)
	}
	before := e.signers.Load()
	if _, _, err := partner.AuthorizeCustody(ctx, plannedBig); evm.ReasonOf(err) != evm.ReasonBalance {
		t.Fatalf("partner on a request over the balance: %v, want %s", err, evm.ReasonBalance)
	}
	if _, held, _ := stores["exchange"].NonceHeldBy(e.cfg.ChainID, e.acct.Address, over.ID()); held || e.signers.Load() != before {
		t.Fatal("a refused request holds a nonce or was signed")
	}
}
