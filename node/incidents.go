package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"time"

	"github.com/triad-custody/triad/hsm"
)

// Incidents are kept, the latest maxIncidents of them, in Options.
// IncidentsFile (plain JSON written atomically: an incident holds session
// IDs, party names and error texts, never key material), so a restart
// forgets neither them nor the circuit breakers they feed (../shared/SECURITY.md scenario 34).

// A peer blamed for breakerAborts aborted sessions within breakerWindow
// has its breaker open: the coordinator prefers the other partner while
// one is connected, so a peer that aborts on purpose cannot keep forcing
// retries through itself. The breaker closes by itself once the blames age
// out of the window.
const (
	breakerAborts = 3
	breakerWindow = 15 * time.Minute
)

// Breaker is one peer's circuit breaker.
type Breaker struct {
	Open bool `json:"open"`
	// Aborts are the aborted sessions blamed on the peer within the window.
	Aborts int `json:"aborts"`
	// Until is when the breaker closes again, if nothing else is blamed.
	Until time.Time `json:"until,omitempty"`
}

// Breaker returns peer's circuit breaker.
func (n *Node) Breaker(peer string) Breaker {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.breakerLocked(peer)
}

func (n *Node) breakerLocked(peer string) Breaker {
	now := n.opt.Now()
	var blamed []time.Time
	for _, inc := range n.incidents {
		if now.Sub(inc.Time) < breakerWindow && !inc.Time.After(now) && contains(inc.Culprits, peer) && peer != n.opt.Party {
			blamed = append(blamed, inc.Time)
		}
	}
	b := Breaker{Aborts: len(blamed)}
	if len(blamed) >= breakerAborts {
		sort.Slice(blamed, func(i, j int) bool { return blamed[i].Before(blamed[j]) })
		// Open until enough blames age out to leave fewer than breakerAborts.
		b.Open, b.Until = true, blamed[len(blamed)-breakerAborts].Add(breakerWindow)
	}
	return b
}

// loadIncidents reads the incidents file, if any; a damaged file is
// reported and set aside, never a reason not to start.
func (n *Node) loadIncidents() {
	if n.opt.IncidentsFile == "" {
		return
	}
	b, err := os.ReadFile(n.opt.IncidentsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var incs []Incident
	if err == nil {
		err = json.Unmarshal(b, &incs)
	}
	if err != nil {
		n.log.Error("incidents file unreadable; starting without past incidents", "file", n.opt.IncidentsFile, "err", err)
		return
	}
	if len(incs) > maxIncidents {
		incs = incs[len(incs)-maxIncidents:]
	}
	n.incidents = incs
}

// saveIncidentsLocked writes the incidents file; n.mu is held.
func (n *Node) saveIncidentsLocked() {
	if n.opt.IncidentsFile == "" {
		return
	}
	b, err := json.Marshal(n.incidents)
	if err == nil {
		err = hsm.WriteFileAtomic(n.opt.IncidentsFile, b, 0o600)
	}
	if err != nil {
		n.counts.add("incidents_not_saved")
		n.log.Error("could not save incidents", "file", n.opt.IncidentsFile, "err", fmt.Errorf("node: %w", err))
	}
}

// ReportIncident records an incident found outside the signing network
// (a holdings reconciliation that disagrees): it is listed with the
// others (status, /metrics) and kept across restarts. Its Culprits feed the
// circuit breakers, so a caller that only reports names none.
func (n *Node) ReportIncident(inc Incident) {
	if inc.Time.IsZero() {
		inc.Time = n.opt.Now()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addIncidentLocked(inc)
}
