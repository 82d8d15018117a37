package custody_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
)

// TestLiquidationCheckedAgainstCredit: a node with a credit source holds the
// margin call's exposure against its own credit figure for the account
// (issue 13; ../shared/SECURITY.md scenario 8, a request that does not match policy
// on evidence): an exposure the proven collateral still covers is refused,
// a missing or stale figure waits (a transient refusal), and an exposure
// over the line passes this check. A node with no credit source is as
// before.
func TestLiquidationCheckedAgainstCredit(t *testing.T) {
	pol := loadPolicy(t)
	pol.Party = custody.Exchange
	req := sampleLiquidation() // exposure 9,000,000
	now := epoch.Add(time.Minute)
	snap, priced := epoch.Add(-time.Hour), epoch
	line := func(limit int64) map[string]custody.CreditFacts {
		return map[string]custody.CreditFacts{"acct-1": {Limit: big.NewInt(limit), SnapshotTime: snap, PriceTime: priced}}
	}
	cases := []struct {
		name      string
		credit    map[string]custody.CreditFacts
		code      string // the reason expected; "" for none of the credit reasons
		transient bool
	}{
		{"no credit source", nil, "", false},
		{"exposure over the line", line(8_999_999), "", false},
		{"exposure exactly at the line", line(9_000_000), custody.ReasonCreditCovers, false},
		{"proof covers the exposure", line(12_000_000), custody.ReasonCreditCovers, false},
		{"no figure for the account", map[string]custody.CreditFacts{}, custody.ReasonCreditUnknown, true},
		{"stale price", map[string]custody.CreditFacts{"acct-1": {Unknown: "price stale"}}, custody.ReasonCreditUnknown, true},
		{"other account only", map[string]custody.CreditFacts{"acct-2": {Limit: big.NewInt(1)}}, custody.ReasonCreditUnknown, true},
	}
	for _, tc := range cases {
		st := custody.State{Progress: custody.Progress{Timeline: custody.Timeline{FirstSeen: epoch}}, Credit: tc.credit}
		d := custody.Evaluate(pol, st, req, now)
		for _, code := range []string{custody.ReasonCreditCovers, custody.ReasonCreditUnknown} {
			if d.Has(code) != (code == tc.code) {
				t.Errorf("%s: decision %v: want reason %q", tc.name, d, tc.code)
			}
		}
		if tc.code == "" {
			if d.Verdict == custody.VerdictRefuse {
				t.Errorf("%s: refused: %v", tc.name, d)
			}
			continue
		}
		if d.Verdict != custody.VerdictRefuse || d.Transient() != tc.transient {
			t.Errorf("%s: decision %v transient=%v, want a refusal with transient=%v", tc.name, d, d.Transient(), tc.transient)
		}
	}
}
