package custody_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
)

func sampleRelease() custody.Request {
	return custody.Request{
		Kind: custody.KindRelease, IdempotencyKey: "idem-1",
		Requester: custody.Requester{Party: custody.Custodian, Caller: "ops"},
		Account:   "acct-1", KeyID: "vault-1", ChildPath: "m/0/1", Asset: "BTC",
		Destination: "bc1qowner0000account0one", Amount: 50_000_000, FeeRate: 10,
		CreatedAt: epoch,
	}
}

func sampleLiquidation() custody.Request {
	r := sampleRelease()
	r.Kind, r.Requester = custody.KindLiquidation, custody.Requester{Party: custody.Exchange, Caller: "margin-engine"}
	r.Destination, r.Amount = "bc1qliquidation0000pre0authorised", 20_000_000
	m := custody.SignMarginCall(custody.MarginCall{
		Account: "acct-1", Asset: "BTC", Shortfall: 25_000_000, Exposure: 9_000_000, Price: 6_000_000,
		Collateral: []custody.Holding{{Asset: "BTC", Value: 6_000_000}}, Time: epoch, Nonce: "mc-1",
	}, seedKey("margin-engine"))
	r.Evidence = &m
	return r
}

func TestCanonicalRoundTrip(t *testing.T) {
	for _, r := range []custody.Request{sampleRelease(), sampleLiquidation()} {
		b := r.Canonical()
		got, err := custody.DecodeCanonicalRequest(b)
		if err != nil {
			t.Fatalf("decode canonical: %v", err)
		}
		if got.ID() != r.ID() || !bytes.Equal(got.Canonical(), b) {
			t.Fatalf("round trip changed the request")
		}
	}
}

func TestIDIgnoresRepresentation(t *testing.T) {
	a := sampleRelease()
	b := a
	b.CreatedAt = a.CreatedAt.In(time.FixedZone("X", 3600)).Add(300 * time.Microsecond) // same ms, other zone
	if a.ID() != b.ID() {
		t.Fatal("the same instant in another zone must give the same ID")
	}
	b.Amount++
	if a.ID() == b.ID() {
		t.Fatal("a different amount must give a different ID")
	}
}

func TestDecodeRefuses(t *testing.T) {
	good := string(sampleRelease().Canonical())
	cases := map[string]string{
		"unknown field":       strings.Replace(good, `{"kind"`, `{"extra":1,"kind"`, 1),
		"duplicate key":       strings.Replace(good, `{"kind":"collateral_release"`, `{"kind":"collateral_release","kind":"liquidation"`, 1),
		"duplicate by case":   strings.Replace(good, `{"kind":"collateral_release"`, `{"kind":"collateral_release","KIND":"liquidation"`, 1),
		"trailing data":       good + `{}`,
		"not an object":       `[1,2]`,
		"negative amount":     strings.Replace(good, `"amount":50000000`, `"amount":-1`, 1),
		"huge amount":         strings.Replace(good, `"amount":50000000`, `"amount":99999999999999999999`, 1),
		"float amount":        strings.Replace(good, `"amount":50000000`, `"amount":1.5`, 1),
		"unknown kind":        strings.Replace(good, `collateral_release`, `steal`, 1),
		"hardened path":       strings.Replace(good, `m/0/1`, `m/0'/1`, 1),
		"evidence on release": strings.Replace(good, `"created_at"`, `"evidence":{"account":"a"},"created_at"`, 1),
		"oversized":           strings.Replace(good, `"ops"`, `"`+strings.Repeat("a", custody.MaxRequestBytes)+`"`, 1),
		"deep":                strings.Repeat("[", 100) + strings.Repeat("]", 100),
		"empty":               ``,
		"control in reason":   strings.Replace(good, `"created_at"`, `"reason":"a\u0000b","created_at"`, 1),
	}
	for name, in := range cases {
		if _, err := custody.DecodeRequest([]byte(in)); !errors.Is(err, custody.ErrMalformed) {
			t.Errorf("%s: want ErrMalformed, got %v", name, err)
		}
	}
	if _, err := custody.DecodeRequest([]byte(good)); err != nil {
		t.Fatalf("good request refused: %v", err)
	}
	spaced := strings.ReplaceAll(good, `,"`, `, "`)
	if _, err := custody.DecodeRequest([]byte(spaced)); err != nil {
		t.Fatalf("non-canonical but valid request refused by DecodeRequest: %v", err)
	}
	if _, err := custody.DecodeCanonicalRequest([]byte(spaced)); !errors.Is(err, custody.ErrMalformed) {
		t.Fatalf("DecodeCanonicalRequest accepted a non-canonical form: %v", err)
	}
}

func TestValidateKinds(t *testing.T) {
	lq := sampleLiquidation()
	lq.Evidence = nil
	if err := lq.Validate(); !errors.Is(err, custody.ErrMalformed) {
		t.Errorf("liquidation without evidence: %v", err)
	}
	uf := sampleRelease()
	uf.Kind = custody.KindUnfreeze
	if err := uf.Validate(); !errors.Is(err, custody.ErrMalformed) {
		t.Errorf("unfreeze without reason: %v", err)
	}
	uf.Reason = "exchange insolvent"
	if err := uf.Validate(); err != nil {
		t.Errorf("unfreeze with reason: %v", err)
	}
	c := custody.Request{Kind: custody.KindCanary, IdempotencyKey: "d", Requester: custody.Requester{Party: custody.Regulator, Caller: "ops"},
		KeyID: "canary-1", Digest: strings.Repeat("ab", 32), CreatedAt: epoch}
	if err := c.Validate(); err != nil {
		t.Errorf("canary: %v", err)
	}
	c.Amount = 1
	if err := c.Validate(); !errors.Is(err, custody.ErrMalformed) {
		t.Errorf("canary with an amount: %v", err)
	}
}

func TestParseChildPath(t *testing.T) {
	if p, err := custody.ParseChildPath("m/0/2147483647"); err != nil || len(p) != 2 || p[1] != 1<<31-1 {
		t.Fatalf("got %v %v", p, err)
	}
	for _, bad := range []string{"", "m", "m/", "0/1", "m/2147483648", "m/1h", "m/01", "m/1/2/3/4/5/6/7/8/9"} {
		if _, err := custody.ParseChildPath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A replacement names the request it replaces by its ID (issue 12): that
// makes it another request, and a malformed reference, or one on a canary
// request, is refused (../shared/SECURITY.md scenario 8: every node validates).
func TestValidateReplaces(t *testing.T) {
	stuck := sampleRelease()
	r := sampleRelease()
	r.IdempotencyKey, r.Replaces = "idem-2", stuck.ID()
	if err := r.Validate(); err != nil {
		t.Fatalf("a replacement: %v", err)
	}
	plain := r
	plain.Replaces = ""
	if plain.ID() == r.ID() {
		t.Fatal("replaces is not part of the ID")
	}
	for name, ref := range map[string]string{
		"short":      stuck.ID()[:63],
		"upper case": strings.ToUpper(stuck.ID()),
		"not hex":    strings.Repeat("zz", 32),
	} {
		bad := r
		bad.Replaces = ref
		if err := bad.Validate(); !errors.Is(err, custody.ErrMalformed) {
			t.Errorf("%s: %v, want %v", name, err, custody.ErrMalformed)
		}
	}
	canary := custody.Request{Kind: custody.KindCanary, IdempotencyKey: "c", Requester: custody.Requester{Party: custody.Custodian, Caller: "ops"},
		KeyID: "canary-1", Digest: strings.Repeat("ab", 32), CreatedAt: epoch, Replaces: stuck.ID()}
	if err := canary.Validate(); !errors.Is(err, custody.ErrMalformed) {
		t.Errorf("a canary replacing: %v", err)
	}
	canary.Replaces = ""
	if err := canary.Validate(); err != nil {
		t.Errorf("the canary itself: %v", err)
	}
}

// An EVM asset's amount over MaxAmount travels exactly as units (issue
// 12): one of amount or units, a positive decimal integer of at most 78
// digits; capped by the asset's max_units; Bitcoin keeps its 2^53−1 limit
// (../shared/SECURITY.md scenario 8: every node checks the amount itself).
func TestUnits(t *testing.T) {
	const million = "1000000000000000000000000" // 10^24
	r := sampleRelease()
	r.Asset, r.Amount, r.Units = "TFND", 0, million
	if err := r.Validate(); err != nil {
		t.Fatalf("10^24 units: %v", err)
	}
	if r.BaseUnits().String() != million {
		t.Fatalf("base units %s", r.BaseUnits())
	}
	plain := r
	plain.Units, plain.Amount = "", 1
	if plain.ID() == r.ID() {
		t.Fatal("units are not part of the ID")
	}
	for name, mod := range map[string]func(*custody.Request){
		"both":           func(r *custody.Request) { r.Amount = 1 },
		"zero":           func(r *custody.Request) { r.Units = "0" },
		"leading zero":   func(r *custody.Request) { r.Units = "0" + million },
		"negative":       func(r *custody.Request) { r.Units = "-" + million },
		"79 digits":      func(r *custody.Request) { r.Units = "1" + strings.Repeat("0", 78) },
		"not a number":   func(r *custody.Request) { r.Units = "1e24" },
		"amount too big": func(r *custody.Request) { r.Units, r.Amount = "", custody.MaxAmount+1 },
	} {
		bad := r
		mod(&bad)
		if err := bad.Validate(); !errors.Is(err, custody.ErrMalformed) {
			t.Errorf("%s: %v, want %v", name, err, custody.ErrMalformed)
		}
	}
	p := loadPolicy(t)
	p.Assets = append(p.Assets, custody.Asset{Symbol: "TFND", Decimals: 18, MaxUnits: million, Class: custody.ClassMMF,
		Chain: custody.ChainEVM, ChainID: 1337, Contract: "0x00000000000000000000000000000000000f00d0"})
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := custody.Evaluate(p, custody.State{}, r, epoch); d.Has(custody.ReasonAmountCap) || d.Has(custody.ReasonAsset) {
		t.Fatalf("10^24 under a cap of 10^24: %v", d)
	}
	over := r
	over.Units = "1000000000000000000000001"
	if d := custody.Evaluate(p, custody.State{}, over, epoch); !d.Has(custody.ReasonAmountCap) {
		t.Errorf("over max_units: %v", d)
	}
	btc := r
	btc.Asset = "BTC"
	if d := custody.Evaluate(p, custody.State{}, btc, epoch); !d.Has(custody.ReasonAsset) {
		t.Errorf("units of bitcoin: %v", d)
	}
	bad := p
	bad.Assets = append([]custody.Asset(nil), p.Assets...)
	bad.Assets[len(bad.Assets)-1].Chain, bad.Assets[len(bad.Assets)-1].ChainID, bad.Assets[len(bad.Assets)-1].Contract = "", 0, ""
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "max_units") {
		t.Errorf("max_units on a bitcoin asset: %v", err)
	}
}
