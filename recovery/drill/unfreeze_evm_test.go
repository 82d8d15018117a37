package drill_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/recovery/drill"
	"github.com/triad-custody/triad/tss/fixtures"
)

// The unfreeze drill on an asset of an EVM chain (issue 12) sends no
// Bitcoin fee rate: its fees are the EVM plan's, under every node's own
// evm.chains caps, and the nodes refuse a fee_rate on it. A --fee-rate
// given for one is the operator's mistake, said before anything is
// submitted (../shared/SECURITY.md scenario 33: a drill changes nothing it need
// not).
func TestUnfreezeEVMAssetTakesNoFeeRate(t *testing.T) {
	pols := map[string]custody.Policy{}
	for _, p := range custody.Parties {
		pol := st.BasePolicy(p)
		canaryPolicy(p, &pol)
		pol.Assets = append(pol.Assets, custody.Asset{Symbol: "TUSD", Decimals: 6, MaxAmount: 1_000_000_000, Class: custody.ClassStablecoin,
			Chain: custody.ChainEVM, ChainID: 1337, Contract: "0x3a220f351252089d385b29beca14e27f204c296a"})
		pols[string(p)] = pol
	}
	clock := custody.NewFakeClock(st.Epoch)
	mem, err := drill.NewMemory(fixtures.KeyID, twinKey(), pols, clock)
	if err != nil {
		t.Fatal(err)
	}
	m := &submits{Memory: mem}
	var out bytes.Buffer
	cfg := drill.Config{KeyID: fixtures.KeyID, ReportDir: t.TempDir(), Out: &out, Now: clock.Now}
	o := drill.UnfreezeOptions{Asset: "TUSD", Amount: 1_000_000, FeeRate: 5, MaxNotice: time.Minute, Timeout: time.Minute,
		Opener: operator(custody.Custodian), Approver: operator(custody.Exchange)}
	if _, err := drill.Unfreeze(m, cfg, o); !errors.Is(err, drill.ErrUsage) || !strings.Contains(err.Error(), "leave --fee-rate out") {
		t.Fatalf("an EVM unfreeze with a fee rate: %v", err)
	}
	if n := len(m.reqs); n != 0 {
		t.Fatalf("%d requests submitted for a refused drill", n)
	}
	o.FeeRate = 0
	if _, err := drill.Unfreeze(m, cfg, o); err != nil && errors.Is(err, drill.ErrUsage) {
		t.Fatalf("an EVM unfreeze without a fee rate: %v", err)
	}
	reqs := m.reqs
	if len(reqs) != 1 || reqs[0].Asset != "TUSD" || reqs[0].FeeRate != 0 {
		t.Fatalf("submitted %+v, want one TUSD unfreeze without a fee rate", reqs)
	}
}

// submits is the in-memory twin recording what the drill submits.
type submits struct {
	*drill.Memory
	reqs []custody.Request
}

func (s *submits) Submit(ctx context.Context, party string, req custody.Request) (service.View, error) {
	s.reqs = append(s.reqs, req)
	return s.Memory.Submit(ctx, party, req)
}
