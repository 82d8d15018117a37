package service

import (
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/store"
)

// View is one request as this node sees it.
type View struct {
	ID        string                                `json:"id"`
	Request   custody.Request                       `json:"request"`
	Status    custody.Status                        `json:"status"`
	Reason    string                                `json:"reason,omitempty"`
	Attempts  int                                   `json:"attempts"`
	UpdatedAt time.Time                             `json:"updated_at"`
	Timeline  custody.Timeline                      `json:"timeline"`
	Approvals map[custody.Party]custody.Endorsement `json:"approvals,omitempty"`
	Vetoes    map[custody.Party]custody.Endorsement `json:"vetoes,omitempty"`
	// Decision is this node's latest policy decision (open requests).
	Decision *custody.Decision `json:"decision,omitempty"`
	// Observer: this node is outside the kind's quorum; it never signs it.
	Observer bool `json:"observer,omitempty"`
	// Peers are the other nodes' statuses as they last reported them.
	Peers  map[custody.Party]PeerStatus `json:"peers,omitempty"`
	Result *Result                      `json:"result,omitempty"`
	// Settlement is this node's record of the request's Bitcoin
	// transaction: txid and confirmations (Options.Tracker).
	Settlement *Settlement `json:"settlement,omitempty"`
	// Waiting says why this node, the coordinator, has not begun signing
	// an approved request: its coins cannot be reserved yet.
	Waiting string `json:"waiting,omitempty"`
}

// Get returns this node's view of a request (store.ErrNotFound if unknown).
func (s *Service) Get(id string) (View, error) {
	// Read under the lock, so the stored record and this node's in-memory
	// facts (decision, waiting reason) are of one moment.
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.st.Get(id)
	if err != nil {
		return View{}, err
	}
	return s.viewLocked(e), nil
}

func (s *Service) viewLocked(e store.Entry) View {
	id := e.Request.ID()
	rec := e.Progress.Record
	v := View{ID: id, Request: s.plannedLocked(id, e.Request), Status: rec.Status, Reason: rec.Reason, Attempts: rec.Attempts,
		UpdatedAt: rec.UpdatedAt, Timeline: e.Progress.Timeline, Approvals: e.Progress.Approvals, Vetoes: e.Progress.Vetoes,
		Observer: !custody.QuorumFor(e.Request.Kind).Includes(s.party)}
	if !rec.Status.Terminal() && rec.Status != custody.StatusSigned {
		if d, ok := s.decisions[id]; ok {
			v.Decision = &d
		}
	}
	if ps := s.peers[id]; len(ps) > 0 {
		v.Peers = map[custody.Party]PeerStatus{}
		for p, st := range ps {
			v.Peers[p] = st
		}
	}
	if r, ok := s.resultLocked(id); ok {
		v.Result = &r
	}
	if rec, ok := s.settlementLocked(id); ok {
		if !s.pol.OnEVM(e.Request.Asset) {
			rec.Raw = "" // a Bitcoin transaction: GET /v1/requests/{id}/tx
		}
		v.Settlement = &rec
	}
	if !rec.Status.Terminal() {
		v.Waiting = s.waiting[id]
	}
	return v
}

// ListFilter selects requests; zero fields match everything.
type ListFilter struct {
	Status custody.Status
	Kind   custody.Kind
	Limit  int // default and maximum 500
}

// List returns matching requests, newest first.
func (s *Service) List(f ListFilter) ([]View, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 500
	}
	entries, err := s.st.List(func(e store.Entry) bool {
		return (f.Status == "" || e.Progress.Record.Status == f.Status) && (f.Kind == "" || e.Request.Kind == f.Kind)
	})
	if err != nil {
		return nil, err
	}
	if len(entries) > f.Limit {
		entries = entries[:f.Limit]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]View, 0, len(entries))
	for _, e := range entries {
		out = append(out, s.viewLocked(e))
	}
	return out, nil
}
