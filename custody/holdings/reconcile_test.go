package holdings_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/holdings/holdingstest"
	"github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/node"
)

// Issue 13, reconciliation: the regulator's node asks the others for their
// own holdings views over the node network, compares them with its own,
// names the node whose view differs (one holding changed) or that did not
// answer, and records each outcome on its audit chain.
func TestReconcilerNamesTheNode(t *testing.T) {
	c, chains := holdingstest.Cluster(t, servicetest.Options{})
	recs := map[custody.Party]*holdings.Reconciler{}
	reported := make(chan string, 16)
	for _, p := range custody.Parties {
		m := c.Members[p]
		recs[p] = &holdings.Reconciler{Party: string(p), View: holdingstest.View(chains[p]), Net: m.Node,
			Audit: m.Svc.Store().Audit(), Now: m.Clock.Now, Log: slog.New(slog.DiscardHandler),
			Incidents: signalled{m.Node, string(p), reported}}
		recs[p].Start()
	}
	reg := recs[custody.Regulator]
	auditHead := func() (uint64, string) {
		h, err := c.Members[custody.Regulator].Svc.Store().Audit().Head()
		if err != nil {
			t.Fatal(err)
		}
		r, _, _ := c.Members[custody.Regulator].Svc.Store().Audit().Record(h.Seq)
		return h.Seq, r.Kind
	}
	run := func(wait time.Duration) holdings.Report {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		seq, _ := auditHead()
		rep, err := reg.Reconcile(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s, kind := auditHead(); s != seq+1 || kind != holdings.KindReconcile {
			t.Fatalf("audit chain: %d %s after %d", s, kind, seq)
		}
		return rep
	}
	if rep := run(30 * time.Second); !rep.OK() || len(rep.Views) != 3 || rep.Views[0].Count != 2 {
		t.Fatalf("agreeing nodes: %+v", rep)
	}
	chains[custody.Exchange].Set("acct-1", 119_999)
	rep := run(30 * time.Second)
	if len(rep.Differences) != 1 || rep.Differences[0].Party != "exchange" || rep.Differences[0].Account != "acct-1" || len(rep.Missing) != 0 {
		t.Fatalf("one holding changed at the exchange: %+v", rep)
	}
	// The disagreement is an incident on every node (the regulator tells
	// the others): one deadline for the three.
	deadline := time.After(10 * time.Second)
	for seen := map[string]bool{}; len(seen) < 3; {
		select {
		case p := <-reported:
			seen[p] = true
			if !hasHoldingsIncident(c.Members[custody.Party(p)].Node.Incidents(), "exchange: acct-1/BTC") {
				t.Fatalf("%s's incidents: %+v", p, c.Members[custody.Party(p)].Node.Incidents())
			}
		case <-deadline:
			t.Fatalf("holdings incidents recorded at %v only", seen)
		}
	}
	if got := metric(t, reg, "triad_holdings_reconcile_differences"); got != 1 {
		t.Fatalf("triad_holdings_reconcile_differences %v", got)
	}
	c.Stop(custody.Exchange)
	rep = run(2 * time.Second)
	if len(rep.Missing) != 1 || rep.Missing[0] != "exchange" || len(rep.Differences) != 0 {
		t.Fatalf("the exchange down: %+v", rep)
	}
	if runs, diffs := metric(t, reg, "triad_holdings_reconciliations_total"), metric(t, reg, "triad_holdings_reconcile_differences"); runs != 3 || diffs != 1 {
		t.Fatalf("metrics: %v runs, %v differences", runs, diffs)
	}
	// The regulator's node was down over the next 00:00/12:00: started
	// again, it catches up a minute later (its audit chain says when it
	// last reconciled).
	c.Members[custody.Regulator].Clock.Advance(13 * time.Hour)
	again := &holdings.Reconciler{Party: "regulator", View: reg.View, Net: reg.Net, Audit: reg.Audit, Now: reg.Now, Log: reg.Log}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waits := make(chan time.Duration, 1)
	go again.Run(ctx, 12*time.Hour, time.Second, func(d time.Duration) <-chan time.Time { waits <- d; return nil })
	if d := <-waits; d != time.Minute {
		t.Fatalf("catch-up after %s, want a minute", d)
	}
}

// metric reads one of r's metrics as /metrics would serve it.
func metric(t *testing.T, r *holdings.Reconciler, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func hasHoldingsIncident(incs []node.Incident, what string) bool {
	for _, i := range incs {
		if i.Protocol == "holdings" && strings.Contains(i.Error, what) && len(i.Culprits) == 0 {
			return true
		}
	}
	return false
}

// signalled records incidents at the node and says which node did.
type signalled struct {
	n     *node.Node
	party string
	ch    chan<- string
}

func (s signalled) ReportIncident(inc node.Incident) {
	s.n.ReportIncident(inc)
	s.ch <- s.party
}

// noNet is a node network on which nobody answers.
type noNet struct{}

func (noNet) HandleApp(string, func(string, []byte))                {}
func (noNet) SendApp(context.Context, string, string, []byte) error { return nil }
func (noNet) Peers() []string                                       { return []string{"custodian", "exchange"} }

// A reconciler used before Start (or whose peers never answer) reports
// the peers missing when its deadline passes; it does not panic.
func TestReconcileWithoutAnswers(t *testing.T) {
	r := &holdings.Reconciler{Party: "regulator", View: holdingstest.View(&holdingstest.Chain{}), Net: noNet{},
		Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	rep, err := r.Reconcile(ctx)
	if err != nil || len(rep.Missing) != 2 || rep.OK() {
		t.Fatalf("report %+v, %v", rep, err)
	}
}
