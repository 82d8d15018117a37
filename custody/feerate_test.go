package custody_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/triad-custody/triad/custody"
)

// An EVM request carries no Bitcoin fee rate (issue 12): its fees are the
// coordinator's plan under every node's own evm.chains caps. A caller's
// fee_rate on it is refused (it would bind the request's ID and steer
// nothing); a Bitcoin transfer still needs one. Validate, which has no
// policy, leaves the choice to Policy.CheckFeeRate, which Evaluate and
// the service's Submit apply (../shared/SECURITY.md scenario 8: every node checks
// the request against its own policy).
func TestFeeRatePerChain(t *testing.T) {
	p := loadPolicy(t)
	p.Assets = append(p.Assets, custody.Asset{Symbol: "TUSD", Decimals: 6, MaxAmount: 1_000_000_000, Class: custody.ClassStablecoin,
		Chain: custody.ChainEVM, ChainID: 1337, Contract: "0x3a220f351252089d385b29beca14e27f204c296a"})
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	evmRel := sampleRelease()
	evmRel.Asset, evmRel.Amount, evmRel.FeeRate = "TUSD", 1_000_000, 0
	btcNoFee := sampleRelease()
	btcNoFee.FeeRate = 0
	evmFee := evmRel
	evmFee.FeeRate = 5
	for name, c := range map[string]struct {
		req  custody.Request
		want string // "" for fine
	}{
		"bitcoin with a fee rate": {sampleRelease(), ""},
		"bitcoin without":         {btcNoFee, "fee_rate: must be 1..100000 sat/vB"},
		"evm without":             {evmRel, ""},
		"evm with a fee rate":     {evmFee, "TUSD is on EVM chain 1337"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := c.req.Validate(); err != nil {
				t.Fatalf("Validate: %v (the chain's rule is the policy's)", err)
			}
			err := p.CheckFeeRate(c.req)
			if c.want == "" && err != nil || c.want != "" && (!errors.Is(err, custody.ErrMalformed) || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("CheckFeeRate: %v, want %q", err, c.want)
			}
			d := custody.Evaluate(p, custody.State{}, c.req, epoch)
			if refused := d.Verdict == custody.VerdictRefuse && d.Has(custody.ReasonMalformed); refused != (c.want != "") {
				t.Fatalf("Evaluate: %s, refused as malformed %v, want %v", d, refused, c.want != "")
			}
		})
	}
}
