package custody_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
)

func TestPolicyValidateNamesTheKey(t *testing.T) {
	cases := map[string]func(*custody.Policy){
		"party":                            func(p *custody.Policy) { p.Party = "bank" },
		"auto_approve[0]":                  func(p *custody.Policy) { p.AutoApprove = []custody.Kind{custody.KindUnfreeze} },
		"settlements_per_day":              func(p *custody.Policy) { p.SettlementsPerDay = -1 },
		"max_leverage_bps":                 func(p *custody.Policy) { p.MaxLeverageBps = 5000 },
		"evidence_max_age":                 func(p *custody.Policy) { p.EvidenceMaxAge = 0 },
		"unfreeze_lapse":                   func(p *custody.Policy) { p.UnfreezeLapse = 12 * time.Hour },
		"margin_engine_keys[0]":            func(p *custody.Policy) { p.MarginEngineKeys = []string{"zz"} },
		"operators.exchange[0].public_key": func(p *custody.Policy) { p.Operators[custody.Exchange][0].PublicKey = "00" },
		"operators.regulator":              func(p *custody.Policy) { delete(p.Operators, custody.Regulator) },
		"keys[1].role":                     func(p *custody.Policy) { p.Keys[1].Role = "hot" },
		"accounts[0].key_id":               func(p *custody.Policy) { p.Accounts[0].KeyID = "no-such-key" },
		"canary_notice_period":             func(p *custody.Policy) { p.CanaryNoticePeriod = p.NoticePeriod + time.Second },
		"accounts[1].child_path":           func(p *custody.Policy) { p.Accounts[1].ChildPath = "m/1'" },
		"assets[1].collateral_factor_bps":  func(p *custody.Policy) { p.Assets[1].CollateralFactorBps = 12000 },
		"liquidation_address":              func(p *custody.Policy) { p.LiquidationAddress = "bc1 q" },
		"liquidation_batch_window":         func(p *custody.Policy) { p.LiquidationBatchWindow = -time.Second },
		"liquidation_batch_max":            func(p *custody.Policy) { p.LiquidationBatchMax = custody.MaxBatchMembers + 1 },
		// EVM assets (issue 12): chain, chain_id and contract are checked.
		"assets[1].class":    func(p *custody.Policy) { p.Assets[1].Class = "equity" },
		"assets[1].chain":    func(p *custody.Policy) { p.Assets[1].Chain = "solana" },
		"assets[1].chain_id": func(p *custody.Policy) { p.Assets[1].Chain = custody.ChainEVM },
		"assets[1].contract": func(p *custody.Policy) {
			p.Assets[1].Chain, p.Assets[1].ChainID, p.Assets[1].Contract = custody.ChainEVM, 1, "0x12"
		},
		"assets[0].chain": func(p *custody.Policy) { p.Assets[0].Contract = "0x00000000000000000000000000000000000c0c00" },
	}
	for key, mutate := range cases {
		p := loadPolicy(t)
		p.Operators = map[custody.Party][]custody.OperatorKey{
			custody.Custodian: append([]custody.OperatorKey(nil), p.Operators[custody.Custodian]...),
			custody.Exchange:  append([]custody.OperatorKey(nil), p.Operators[custody.Exchange]...),
			custody.Regulator: append([]custody.OperatorKey(nil), p.Operators[custody.Regulator]...),
		}
		mutate(&p)
		err := p.Validate()
		if !errors.Is(err, custody.ErrInvalidPolicy) || !strings.Contains(err.Error(), key+":") {
			t.Errorf("%s: got %v", key, err)
		}
	}
}

// TestAssetCollateralFactor: an explicit collateral_factor_bps wins; unset,
// the class gives the default valuation (issue 12: 98% for tokenized MMF
// shares, 95% for stablecoins), and an unclassified asset counts nothing.
func TestAssetCollateralFactor(t *testing.T) {
	for _, c := range []struct {
		a    custody.Asset
		want uint64
	}{
		{custody.Asset{Class: custody.ClassMMF}, 9800},
		{custody.Asset{Class: custody.ClassStablecoin}, 9500},
		{custody.Asset{Class: custody.ClassStablecoin, CollateralFactorBps: 9000}, 9000},
		{custody.Asset{}, 0},
	} {
		if got := c.a.CollateralFactor(); got != c.want {
			t.Errorf("%+v: %d, want %d", c.a, got, c.want)
		}
	}
	p := loadPolicy(t)
	p.Assets = append(p.Assets, custody.Asset{Symbol: "TUSD", Decimals: 6, Class: custody.ClassStablecoin,
		Chain: custody.ChainEVM, ChainID: 1337, Contract: "0x00000000000000000000000000000000000c0c00"})
	if err := p.Validate(); err != nil {
		t.Fatalf("an EVM asset: %v", err)
	}
}

func TestDefaultPolicyNeedsOperators(t *testing.T) {
	p := custody.DefaultPolicy(custody.Custodian)
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "operators.custodian") {
		t.Fatalf("got %v", err)
	}
}

func TestCheckRawDigest(t *testing.T) {
	p := loadPolicy(t)
	if err := custody.CheckRawDigest(p, "canary-1"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"vault-1", "unknown"} {
		if err := custody.CheckRawDigest(p, k); !errors.Is(err, custody.ErrRawDigestRefused) {
			t.Errorf("%s: got %v", k, err)
		}
	}
}

func TestEvaluateIsPureAndSafeOnZeroValues(t *testing.T) {
	p := loadPolicy(t)
	d := custody.Evaluate(p, custody.State{}, custody.Request{}, epoch)
	if d.Verdict != custody.VerdictRefuse || !d.Has(custody.ReasonMalformed) {
		t.Fatalf("zero request: %v", d)
	}
	st := custody.State{Progress: custody.Progress{Record: custody.Record{ID: "other"}}}
	if d := custody.Evaluate(p, st, sampleRelease(), epoch); !d.Has(custody.ReasonStatus) {
		t.Fatalf("state of another request: %v", d)
	}
	// The same inputs give the same decision.
	a := custody.Evaluate(p, custody.State{}, sampleLiquidation(), epoch.Add(time.Minute))
	b := custody.Evaluate(p, custody.State{}, sampleLiquidation(), epoch.Add(time.Minute))
	if a.String() != b.String() || a.Verdict != custody.VerdictApprove || !a.Auto {
		t.Fatalf("%v vs %v", a, b)
	}
}

func TestTooEarlyCarriesRetryAt(t *testing.T) {
	p := loadPolicy(t)
	r := sampleRelease()
	r.Kind, r.Reason = custody.KindUnfreeze, "exchange insolvent"
	st := custody.State{Progress: custody.Progress{
		Timeline:  custody.Timeline{FirstSeen: epoch, Witnessed: 20 * time.Hour},
		Approvals: map[custody.Party]custody.Endorsement{custody.Custodian: {Party: custody.Custodian, Stance: custody.Approve, Operator: "alice"}},
	}}
	d := custody.Evaluate(p, st, r, epoch.Add(22*time.Hour))
	if !d.Has(custody.ReasonTooEarly) || !d.RetryAt.Equal(epoch.Add(26*time.Hour)) {
		t.Fatalf("got %v retry %v", d, d.RetryAt)
	}
	// Automatic endorsements never count for an unfreeze.
	st.Approvals[custody.Custodian] = custody.Endorsement{Party: custody.Custodian, Stance: custody.Approve, Auto: true}
	st.Timeline.Witnessed = 30 * time.Hour
	if d := custody.Evaluate(p, st, r, epoch.Add(30*time.Hour)); !d.Has(custody.ReasonNotOpened) {
		t.Fatalf("auto endorsement opened an unfreeze: %v", d)
	}
}

// ../shared/SECURITY.md scenario 33: a raw canary signature only over the drill message of a
// nonce, which the node recomputes; never over any other 32 bytes.
func TestCheckRawDrill(t *testing.T) {
	p := loadPolicy(t)
	d, err := custody.DrillDigest("drill-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := custody.CheckRawDrill(p, "canary-1", "drill-1", d[:]); err != nil {
		t.Fatal(err)
	}
	other, _ := custody.DrillDigest("drill-2")
	sighash := make([]byte, 32) // stands for any transaction sighash
	sighash[0] = 0x42
	for name, c := range map[string]struct {
		key, nonce string
		digest     []byte
	}{
		"custody key":       {"vault-1", "drill-1", d[:]},
		"arbitrary digest":  {"canary-1", "drill-1", sighash},
		"another nonce's":   {"canary-1", "drill-1", other[:]},
		"no nonce":          {"canary-1", "", sighash},
		"bad nonce":         {"canary-1", "drill 1\n", sighash},
		"nonce too long":    {"canary-1", strings.Repeat("n", custody.MaxDrillNonce+1), sighash},
		"digest as a nonce": {"canary-1", hex.EncodeToString(sighash), sighash},
	} {
		if err := custody.CheckRawDrill(p, c.key, c.nonce, c.digest); !errors.Is(err, custody.ErrRawDigestRefused) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if len(custody.DrillTag) <= 32 {
		t.Fatal("the drill tag must be longer than a hash, so tag || nonce is never a sighash's inner hash")
	}
}
