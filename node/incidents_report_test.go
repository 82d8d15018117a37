package node

import (
	"testing"
	"time"
)

// Issue 13: a holdings disagreement is an incident like an abort: listed,
// kept across restarts, and (naming no culprit) it opens no breaker.
func TestReportIncident(t *testing.T) {
	file := t.TempDir() + "/incidents.json"
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	n := &Node{opt: Options{Party: "regulator", IncidentsFile: file, Now: func() time.Time { return now }}}
	for range breakerAborts + 1 {
		n.ReportIncident(Incident{Protocol: "holdings", Error: "exchange: acct-1/BTC differs"})
	}
	got := n.Incidents()
	if len(got) != breakerAborts+1 || got[0].Protocol != "holdings" || !got[0].Time.Equal(now) {
		t.Fatalf("incidents %+v", got)
	}
	if n.Breaker("exchange").Open {
		t.Fatal("a reported incident opened a breaker")
	}
	m := &Node{opt: Options{Party: "regulator", IncidentsFile: file, Now: func() time.Time { return now }}}
	m.loadIncidents()
	if len(m.Incidents()) != breakerAborts+1 {
		t.Fatalf("after a restart: %d incidents", len(m.Incidents()))
	}
}
