package settle_test

import (
	"context"
	"errors"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/settle"
)

// Issue 12 item 2: a node's evm.chains become its chain boundary's EVM
// chains, each with its own caps and the policy's assets of that chain;
// a request for an EVM asset on a chain the node has no node for is
// refused, never sent to the Bitcoin settler; a bad policy asset is a
// config error.
func TestChainsForNode(t *testing.T) {
	cc := evm.Config{RPCURL: "http://127.0.0.1:1", ChainID: 1337, MaxFeePerGasWei: 100e9, MaxPriorityFeePerGasWei: 2e9, MaxGas: 200_000, Confirmations: 3}
	pol := custody.Policy{
		Assets: []custody.Asset{
			{Symbol: "TUSD", Decimals: 6, Chain: custody.ChainEVM, ChainID: 1337, Contract: "0x00000000000000000000000000000000000c0de0"},
			{Symbol: "OTHER", Decimals: 6, Chain: custody.ChainEVM, ChainID: 5, Contract: "0x00000000000000000000000000000000000c0de1"},
		},
		Accounts: []custody.Account{{ID: "acct-1", KeyID: "k", ChildPath: "m/0/7", OwnerAddress: "0x00000000000000000000000000000000000a11ce"}},
	}
	e := settle.EVMConfig{Chains: []evm.Config{cc}}
	chains, err := settle.ChainsForNode(context.Background(), e, pol, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := chains.EVM[1337]
	if len(chains.EVM) != 1 || ch == nil || ch.Policy.Confirmations != 3 || ch.Policy.Assets["TUSD"].Contract == nil {
		t.Fatalf("chains: %+v", chains.EVM)
	}
	rel := custody.Request{Kind: custody.KindRelease, Account: "acct-1", Asset: "TUSD"}
	if !chains.Pays(rel) || chains.Batches(custody.Request{Kind: custody.KindLiquidation, Account: "acct-1", Asset: "TUSD"}) {
		t.Fatal("a TUSD release is not paid on the EVM chain, or a TUSD liquidation would wait for a Bitcoin batch")
	}
	other := rel
	other.Asset = "OTHER"
	if _, err := chains.Plan(context.Background(), other, nil); !errors.Is(err, settle.ErrNoEVMChain) {
		t.Fatalf("an asset on a chain without a node: %v", err)
	}
	if err := chains.Check(context.Background(), other); !errors.Is(err, settle.ErrNoEVMChain) {
		t.Fatalf("checking an asset on a chain without a node: %v", err)
	}
	pol.Assets[0].Contract = "0xnot-an-address"
	if _, err := settle.ChainsForNode(context.Background(), e, pol, nil, nil, nil); err == nil {
		t.Fatal("a malformed contract address was accepted")
	}
}
