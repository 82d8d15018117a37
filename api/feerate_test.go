package api_test

import (
	"strings"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// POST /v1/requests on a node whose policy has an EVM asset (issue 12):
// an EVM transfer needs no fee_rate (its fees are the EVM plan's, under
// each node's evm.chains caps) and one that carries a fee_rate is a 400,
// as is a Bitcoin transfer without one; nothing refused is stored
// (../shared/SECURITY.md scenario 8: a caller's mistake is a clear 4xx).
func TestAPIFeeRatePerChain(t *testing.T) {
	c := newAPICluster(t, st.Options{Policy: func(_ custody.Party, pol *custody.Policy) {
		pol.Assets = append(pol.Assets, custody.Asset{Symbol: "TUSD", Decimals: 6, MaxAmount: 1_000_000_000, Class: custody.ClassStablecoin,
			Chain: custody.ChainEVM, ChainID: 1337, Contract: "0x3a220f351252089d385b29beca14e27f204c296a"})
	}})
	ex := custody.Exchange
	evmRel := `{"kind":"collateral_release","idempotency_key":"tusd-1","account":"acct-1","key_id":"fixture","child_path":"m/0/1","asset":"TUSD","destination":"bc1qowner0000account0one","amount":1000000}`
	btcRel := strings.NewReplacer(`"TUSD"`, `"BTC"`, `tusd-1`, `btc-1`).Replace(evmRel)
	for _, tc := range []struct {
		name, body string
		code       int
		msg        string
	}{
		{"evm with a fee rate", strings.Replace(evmRel, `"amount"`, `"fee_rate":5,"amount"`, 1), 400, "TUSD is on EVM chain 1337"},
		{"bitcoin without a fee rate", btcRel, 400, "fee_rate: must be 1..100000 sat/vB"},
	} {
		var eb errBody
		if code := c.call(t, ex, "operator", "POST", "/v1/requests", tc.body, &eb); code != tc.code || eb.Error.Code != "malformed" || !strings.Contains(eb.Error.Message, tc.msg) {
			t.Errorf("%s: %d %+v, want %d malformed %q", tc.name, code, eb.Error, tc.code, tc.msg)
		}
	}
	var v service.View
	if code := c.call(t, ex, "operator", "POST", "/v1/requests", evmRel, &v); code != 201 || v.Request.FeeRate != 0 || v.Request.Asset != "TUSD" {
		t.Fatalf("an EVM release without fee_rate: %d %+v", code, v.Request)
	}
	all, err := c.Svc(ex).List(service.ListFilter{})
	if err != nil || len(all) != 1 {
		t.Fatalf("%d requests stored (%v), want the one EVM release", len(all), err)
	}
}
