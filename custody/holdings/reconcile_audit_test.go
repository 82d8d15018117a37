package holdings_test

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/holdings/holdingstest"
	"github.com/triad-custody/triad/custody/service/servicetest"
)

// auditChain is a real audit chain in a bbolt file of the test's own, with
// n records.
func auditChain(t *testing.T, n int) (*bolt.DB, *audit.Chain) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "audit.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := audit.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := c.Append(audit.Entry{Time: time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC), Kind: audit.KindRequest,
			RequestID: strings.Repeat("a", 63) + string(rune('0'+i%10)), Party: "exchange", Payload: audit.Digest([]byte{byte(i)})}); err != nil {
			t.Fatal(err)
		}
	}
	return db, c
}

// flipByte changes one byte (a hex digit of the payload) of record seq as
// stored on disk.
func flipByte(t *testing.T, db *bolt.DB, seq uint64) {
	t.Helper()
	err := db.Update(func(tx *bolt.Tx) error {
		k := binary.BigEndian.AppendUint64(nil, seq)
		b := append([]byte(nil), tx.Bucket([]byte("audit")).Get(k)...)
		i := strings.Index(string(b), `"payload":"`) + len(`"payload":"`)
		b[i] ^= 1 // '0'..'9' and 'a'..'f' stay printable, the record another
		return tx.Bucket([]byte("audit")).Put(k, b)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func reconcilers(t *testing.T, c *servicetest.Cluster, chains map[custody.Party]*holdingstest.Chain, auditOf map[custody.Party]holdings.Appender, reported chan string) *holdings.Reconciler {
	t.Helper()
	var reg *holdings.Reconciler
	for _, p := range custody.Parties {
		m := c.Members[p]
		a, ok := auditOf[p]
		if !ok {
			a = m.Svc.Store().Audit()
		}
		r := &holdings.Reconciler{Party: string(p), View: holdingstest.View(chains[p]), Net: m.Node, Audit: a,
			Now: m.Clock.Now, Log: slog.New(slog.DiscardHandler), Incidents: signalled{m.Node, string(p), reported}}
		r.Start()
		if p == custody.Regulator {
			reg = r
		}
	}
	return reg
}

func reconcileNow(t *testing.T, r *holdings.Reconciler) holdings.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := r.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Issue 13, reconciliation of the audit chain heads: every node reads its
// audit chain head with its holdings view; one byte changed in one node's
// audit chain is detected, and that node named, on the regulator's audit
// chain, as an incident on every node and on /metrics.
func TestReconcileNamesTheAuditChain(t *testing.T) {
	c, chains := holdingstest.Cluster(t, servicetest.Options{})
	db, exchangeAudit := auditChain(t, 5)
	reported := make(chan string, 16)
	reg := reconcilers(t, c, chains, map[custody.Party]holdings.Appender{custody.Exchange: exchangeAudit}, reported)

	rep := reconcileNow(t, reg)
	if !rep.OK() || len(rep.Views) != 3 {
		t.Fatalf("agreeing nodes: %+v", rep)
	}
	for _, v := range rep.Views {
		if v.Audit == nil || v.Audit.Error != "" || v.Party == "exchange" && v.Audit.Head.Seq != 5 {
			t.Fatalf("%s's audit head: %+v", v.Party, v.Audit)
		}
	}
	flipByte(t, db, 2)
	rep = reconcileNow(t, reg)
	if len(rep.Differences) != 1 || rep.Differences[0].Party != "exchange" || rep.Differences[0].What != "audit" ||
		!strings.Contains(rep.Differences[0].Detail, "does not verify") {
		t.Fatalf("one byte changed in the exchange's audit chain: %+v", rep)
	}
	head, _ := c.Members[custody.Regulator].Svc.Store().Audit().Head()
	if r, _, _ := c.Members[custody.Regulator].Svc.Store().Audit().Record(head.Seq); r.Kind != holdings.KindReconcile {
		t.Fatalf("the regulator's last audit record is %s", r.Kind)
	}
	deadline := time.After(10 * time.Second)
	for seen := map[string]bool{}; len(seen) < 3; {
		select {
		case p := <-reported:
			seen[p] = true
			if !hasHoldingsIncident(c.Members[custody.Party(p)].Node.Incidents(), "exchange: audit differs") {
				t.Fatalf("%s's incidents: %+v", p, c.Members[custody.Party(p)].Node.Incidents())
			}
		case <-deadline:
			t.Fatalf("holdings incidents recorded at %v only", seen)
		}
	}
	if got := metric(t, reg, "triad_holdings_reconcile_differences"); got != 1 {
		t.Fatalf("triad_holdings_reconcile_differences %v", got)
	}
}

// Issue 13: a node whose chain was rewritten whole (every hash recomputed,
// so it verifies) or cut short no longer holds the head it had at the last
// reconciliation, and is named; one unchanged, or grown, is not.
func TestCompareAuditPinnedHead(t *testing.T) {
	_, before := auditChain(t, 4)
	pin, _ := before.Head()
	pinned := map[string]audit.Head{"exchange": pin}
	name := func(c *audit.Chain) []holdings.Difference {
		return holdings.CompareAudit([]holdings.NodeView{{Party: "exchange", Audit: holdings.ReadAuditHead(c, pin.Seq)}}, pinned)
	}
	if d := name(before); len(d) != 0 {
		t.Fatalf("an unchanged chain named: %v", d)
	}
	before.Append(audit.Entry{Time: time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC), Kind: audit.KindVeto, Payload: audit.Digest([]byte("x"))})
	if d := name(before); len(d) != 0 {
		t.Fatalf("a grown chain named: %v", d)
	}
	_, rewritten := auditChain(t, 3)
	rewritten.Append(audit.Entry{Time: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC), Kind: audit.KindRequest, Payload: audit.Digest([]byte("other"))})
	rewritten.Append(audit.Entry{Time: time.Date(2026, 12, 1, 2, 0, 1, 0, time.UTC), Kind: audit.KindRequest, Payload: audit.Digest([]byte("more"))})
	if err := rewritten.Verify(); err != nil {
		t.Fatal(err)
	}
	if d := name(rewritten); len(d) != 1 || d[0].Party != "exchange" || !strings.Contains(d[0].Detail, "no longer the head") {
		t.Fatalf("a rewritten chain: %v", d)
	}
	_, short := auditChain(t, 2)
	if d := name(short); len(d) != 1 || !strings.Contains(d[0].Detail, "shrank") {
		t.Fatalf("a shorter chain: %v", d)
	}
	if d := holdings.CompareAudit([]holdings.NodeView{{Party: "custodian"}}, nil); len(d) != 1 || !strings.Contains(d[0].Detail, "no audit chain head") {
		t.Fatalf("a view without a head: %v", d)
	}
}

// Issue 13: a peer that cannot read its own chain view answers with its
// error, and the report names it with that error, not as missing.
func TestReconcileReportsPeerError(t *testing.T) {
	c, chains := holdingstest.Cluster(t, servicetest.Options{})
	reg := reconcilers(t, c, chains, nil, make(chan string, 16))
	chains[custody.Custodian].Fail(errors.New("bitcoin node: connection refused"))
	rep := reconcileNow(t, reg)
	if len(rep.Failed) != 1 || rep.Failed[0].Party != "custodian" || !strings.Contains(rep.Failed[0].Error, "connection refused") ||
		len(rep.Missing) != 0 || rep.OK() {
		t.Fatalf("the custodian cannot read its chain: %+v", rep)
	}
	if got := metric(t, reg, "triad_holdings_reconcile_differences"); got != 1 {
		t.Fatalf("triad_holdings_reconcile_differences %v", got)
	}
}
