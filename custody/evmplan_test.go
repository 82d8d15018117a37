package custody_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/triad-custody/triad/custody"
)

func sampleEVMPlan() *custody.EVMPlan {
	return &custody.EVMPlan{ChainID: 1337, Nonce: 4, Gas: 60_000, MaxFeePerGas: "2000000000", MaxPriorityFeePerGas: "1000000000"}
}

// An EVM plan is the request's plan, as its coins are (issue 12): not part
// of the ID (a replacement at a higher fee is the same request and keeps
// its nonce, ../shared/SECURITY.md scenario 27), stripped by Base, carried in the
// canonical payload between nodes, and absent from a Bitcoin request's
// JSON, which stays byte for byte what it was.
func TestEVMPlanIsThePlan(t *testing.T) {
	r := sampleRelease()
	before := r.Canonical()
	planned := r.WithEVMPlan(sampleEVMPlan())
	if planned.ID() != r.ID() {
		t.Fatal("the EVM plan changed the request's ID")
	}
	if planned.Base().EVM != nil {
		t.Fatal("Base kept the EVM plan")
	}
	if bytes.Contains(before, []byte(`"evm"`)) {
		t.Fatalf("a request without an EVM plan encodes one: %s", before)
	}
	got, err := custody.DecodeCanonicalRequest(planned.Canonical())
	if err != nil {
		t.Fatal(err)
	}
	if got.EVM == nil || *got.EVM != *sampleEVMPlan() {
		t.Fatalf("round trip: %+v", got.EVM)
	}
	higher := sampleEVMPlan()
	higher.MaxFeePerGas = "3000000000"
	if r.WithEVMPlan(higher).ID() != r.ID() {
		t.Fatal("a replacement at a higher fee is another request")
	}
}

// A malformed EVM plan from a peer is refused at decoding, never a panic
// (../shared/SECURITY.md scenario 7).
func TestEVMPlanValidate(t *testing.T) {
	for name, mod := range map[string]func(*custody.Request){
		"no chain":        func(r *custody.Request) { r.EVM.ChainID = 0 },
		"gas too low":     func(r *custody.Request) { r.EVM.Gas = 20_999 },
		"gas too high":    func(r *custody.Request) { r.EVM.Gas = 30_000_001 },
		"negative fee":    func(r *custody.Request) { r.EVM.MaxFeePerGas = "-1" },
		"hex fee":         func(r *custody.Request) { r.EVM.MaxPriorityFeePerGas = "0x10" },
		"leading zero":    func(r *custody.Request) { r.EVM.MaxFeePerGas = "01" },
		"empty fee":       func(r *custody.Request) { r.EVM.MaxFeePerGas = "" },
		"fee over 78":     func(r *custody.Request) { r.EVM.MaxFeePerGas = "1" + strings.Repeat("0", 78) },
		"coins and evm":   func(r *custody.Request) { r.Inputs = []custody.Input{{TxID: strings.Repeat("ab", 32), Value: 1}} },
		"canary with evm": func(r *custody.Request) { *r = canaryWith(r.EVM) },
	} {
		t.Run(name, func(t *testing.T) {
			r := sampleRelease().WithEVMPlan(sampleEVMPlan())
			mod(&r)
			if err := r.Validate(); !errors.Is(err, custody.ErrMalformed) {
				t.Fatalf("want ErrMalformed, got %v", err)
			}
			if _, err := custody.DecodeRequest(r.Canonical()); err == nil {
				t.Fatal("decoded")
			}
		})
	}
	if err := sampleRelease().WithEVMPlan(sampleEVMPlan()).Validate(); err != nil {
		t.Fatalf("a good plan: %v", err)
	}
	if err := canaryWith(nil).Validate(); err != nil {
		t.Fatalf("the canary without a plan: %v", err)
	}
	if _, err := custody.DecodeRequest([]byte(`{"kind":"collateral_release","evm":{"chain_id":1,"nonce":0,"gas":21000,` +
		`"max_fee_per_gas":"1","max_priority_fee_per_gas":"1","extra":1}}`)); !errors.Is(err, custody.ErrMalformed) {
		t.Fatalf("unknown field in the plan: %v", err)
	}
}

func canaryWith(p *custody.EVMPlan) custody.Request {
	return custody.Request{Kind: custody.KindCanary, IdempotencyKey: "c-1",
		Requester: custody.Requester{Party: custody.Regulator, Caller: "ops"}, KeyID: "canary-1",
		Digest: strings.Repeat("ab", 32), CreatedAt: epoch, EVM: p}
}
