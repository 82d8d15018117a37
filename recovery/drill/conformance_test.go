package drill_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/recovery"
	"github.com/triad-custody/triad/recovery/drill"
	"github.com/triad-custody/triad/tss/fixtures"
)

// notice is the canary notice period of the test policies.
const notice = 2 * time.Second

// canaryPolicy is party p's test policy with the fixture key as a canary
// key (its account acct-1 at m/0/1) and a short canary notice period.
func canaryPolicy(p custody.Party, pol *custody.Policy) {
	pol.Keys = []custody.KeyConfig{{ID: fixtures.KeyID, Role: custody.RoleCanary}}
	pol.CanaryNoticePeriod = notice
}

// harness is one Cluster implementation with the switches the
// conformance test needs.
type harness struct {
	c       drill.Cluster
	now     func() time.Time
	stop    func(party string)
	trusted map[string]string // party → peer ID its attestations must come from
}

func operator(p custody.Party) drill.Operator {
	return drill.KeyOperator(string(p), st.OperatorNames[p], st.OperatorKey(p))
}

// TestConformance runs every drill against the HTTP cluster (three nodes
// over libp2p behind their APIs) and against the in-memory twin; both
// must behave alike. ../shared/SECURITY.md scenarios 15 (a lost node: the other pair signs)
// and 33 (drills sign only drill messages and canary requests with canary
// keys) of ../shared/SECURITY.md.
func TestConformance(t *testing.T) {
	for name, newHarness := range map[string]func(t *testing.T) harness{"http": newHTTPHarness, "memory": newMemoryHarness} {
		t.Run(name, func(t *testing.T) { conformance(t, newHarness(t)) })
	}
}

func conformance(t *testing.T, h harness) {
	dir := t.TempDir()
	run := func(f func(cfg drill.Config) (*recovery.Report, error)) (string, *recovery.Report, error) {
		var out bytes.Buffer
		rep, err := f(drill.Config{KeyID: fixtures.KeyID, ReportDir: dir, Out: &out, Now: h.now})
		return out.String(), rep, err
	}
	passed := func(what, out string, rep *recovery.Report, err error, signers int) {
		t.Helper()
		if err != nil || rep.Verdict != recovery.Pass || !strings.Contains(out, "verdict: PASS") {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		if err := rep.Verify(h.trusted, signers); err != nil {
			t.Fatalf("%s: the report does not verify against the nodes' identities: %v", what, err)
		}
	}
	out, rep, err := run(func(cfg drill.Config) (*recovery.Report, error) { return drill.Unseal(h.c, cfg) })
	passed("unseal", out, rep, err, 3)
	out, rep, err = run(func(cfg drill.Config) (*recovery.Report, error) { return drill.AllPairs(h.c, cfg) })
	passed("all-pairs", out, rep, err, 3)
	out, rep, err = run(func(cfg drill.Config) (*recovery.Report, error) {
		return drill.Unfreeze(h.c, cfg, drill.UnfreezeOptions{Amount: 1000, FeeRate: 1, MaxNotice: time.Minute, Timeout: time.Minute,
			Opener: operator(custody.Custodian), Approver: operator(custody.Exchange)})
	})
	passed("unfreeze", out, rep, err, 3)
	for _, want := range []string{"over the canary digest verified", "ok   regulator records the unfreeze signed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("unfreeze: output lacks %q\n%s", want, out)
		}
	}

	// The caller's mistakes: a key no policy lists as a canary, one
	// party's operators twice.
	_, _, err = run(func(cfg drill.Config) (*recovery.Report, error) {
		cfg.KeyID = "custody-1"
		return drill.AllPairs(h.c, cfg)
	})
	if !errors.Is(err, drill.ErrUsage) {
		t.Fatalf("all-pairs on a key that is no canary: %v", err)
	}
	_, _, err = run(func(cfg drill.Config) (*recovery.Report, error) {
		return drill.Unfreeze(h.c, cfg, drill.UnfreezeOptions{Opener: operator(custody.Custodian), Approver: operator(custody.Custodian)})
	})
	if !errors.Is(err, drill.ErrUsage) {
		t.Fatalf("unfreeze with one party twice: %v", err)
	}

	// The exchange's node is lost: node-loss passes, all-pairs fails and
	// names the two pairs that need it.
	h.stop("exchange")
	out, rep, err = run(func(cfg drill.Config) (*recovery.Report, error) { return drill.NodeLoss(h.c, cfg, "exchange") })
	passed("node-loss", out, rep, err, 2)
	out, rep, err = run(func(cfg drill.Config) (*recovery.Report, error) { return drill.AllPairs(h.c, cfg) })
	if !errors.Is(err, drill.ErrFailed) || rep.Verdict != recovery.Fail || !strings.Contains(out, "verdict: FAIL") {
		t.Fatalf("all-pairs with the exchange down: %v\n%s", err, out)
	}
	for _, want := range []string{"FAIL custodian+exchange sign a canary", "ok   custodian+regulator sign a canary", "FAIL exchange+regulator sign a canary"} {
		if !strings.Contains(out, want) {
			t.Fatalf("all-pairs with the exchange down: output lacks %q\n%s", want, out)
		}
	}
}
