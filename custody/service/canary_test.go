package service_test

import (
	"context"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
)

// An unfreeze drill on a canary key signs the request's interim digest
// only when it names nothing to pay with. One that carries an EVM plan is
// a real transfer (issue 12): it must sign the chain's digest (the
// EIP-1559 signer hash) and be finalized, else the nodes sign a digest
// that pays nothing while the coordinator holds the account's nonce
// (../shared/SECURITY.md scenario 26: what is signed is what every node rebuilt).
func TestCanaryUnfreezeWithEVMPlanSettles(t *testing.T) {
	pol := custody.Policy{Keys: []custody.KeyConfig{{ID: "canary-1", Role: custody.RoleCanary}}}
	chain := [32]byte{0xe7}
	next := func(custody.Request) ([][32]byte, error) { return [][32]byte{chain}, nil }
	finalized := 0
	fin := service.CanaryFinalizer(pol, func(context.Context, custody.Request, service.Result) error { finalized++; return nil })
	dig := service.CanaryDigester(pol, next)
	req := custody.Request{Kind: custody.KindUnfreeze, KeyID: "canary-1", Account: "canary-evm", Asset: "TUSD", Amount: 1}

	d, err := dig(req)
	if err != nil || d[0] == chain {
		t.Fatalf("a coinless canary unfreeze signs %x (%v), want its interim digest", d, err)
	}
	if fin(context.Background(), req, service.Result{}); finalized != 0 {
		t.Fatal("a coinless canary unfreeze was finalized")
	}
	planned := req.WithEVMPlan(&custody.EVMPlan{ChainID: 1337, Nonce: 0, Gas: 60_000, MaxFeePerGas: "2", MaxPriorityFeePerGas: "1"})
	if d, err := dig(planned); err != nil || len(d) != 1 || d[0] != chain {
		t.Fatalf("a canary unfreeze with an EVM plan signs %x (%v), want the chain's digest", d, err)
	}
	if fin(context.Background(), planned, service.Result{}); finalized != 1 {
		t.Fatal("a canary unfreeze with an EVM plan was not finalized")
	}
}
