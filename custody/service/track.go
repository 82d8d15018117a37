package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/store"
)

// Settlement is what this node knows of a request's Bitcoin transaction:
// its txid and how many blocks confirm it in this node's own Bitcoin
// node. Package settle writes it (settle.Record, whose JSON carries these
// fields) into the store's settlement record.
type Settlement struct {
	TxID          string    `json:"txid"`
	Broadcast     bool      `json:"broadcast,omitempty"`
	Confirmations int64     `json:"confirmations"`
	Updated       time.Time `json:"updated,omitzero"`
	// Error is the last broadcast or lookup failure, if any.
	Error string `json:"error,omitempty"`
	// Vout is the request's own payment output and Batch its liquidation
	// batch's ID, when a batch pays it (TxID is then the batch's).
	Vout  *uint32 `json:"vout,omitempty"`
	Batch string  `json:"batch,omitempty"`
	// Raw is, for a request paid on an EVM chain, the signed transaction
	// (hex) this node finalized, for an operator to decode (triad tx
	// show). A Bitcoin transaction is not repeated here: GET
	// /v1/requests/{id}/tx shows it.
	Raw string `json:"raw,omitempty"`
}

// Tracker asks this node's Bitcoin node about a done request's transaction,
// records the answer in the store's settlement record and returns it
// (settle.Settler.Tracker). ok is false for a request with no transaction
// to follow (a canary drill); it is then not asked again.
type Tracker func(ctx context.Context, req custody.Request) (rec Settlement, ok bool, err error)

// DefaultTrackConfirmations is how many confirmations end tracking.
const DefaultTrackConfirmations = 6

// settlementLocked is this node's settlement record of request id.
func (s *Service) settlementLocked(id string) (Settlement, bool) {
	b, ok, err := s.st.Settlement(id)
	if err != nil || !ok {
		return Settlement{}, false
	}
	var rec Settlement
	if json.Unmarshal(b, &rec) != nil {
		return Settlement{}, false
	}
	return rec, true
}

// trackLocked starts following request id's transaction (signed: until it
// confirms and the request is done; done: until TrackConfirmations),
// unless it has already reached the confirmations that end tracking.
func (s *Service) trackLocked(id string) {
	if s.o.Tracker == nil {
		return
	}
	if rec, ok := s.settlementLocked(id); ok && rec.Confirmations >= s.o.TrackConfirmations {
		return
	}
	s.tracked[id] = true
}

// resumeTracking follows again, after a restart, every signed request
// (waiting for its transaction to confirm) and every done request whose
// transaction had fewer confirmations than the target.
func (s *Service) resumeTracking() error {
	if s.o.Tracker == nil {
		return nil
	}
	done, err := s.st.List(func(e store.Entry) bool {
		st := e.Progress.Record.Status
		return st == custody.StatusDone || st == custody.StatusSigned
	})
	if err != nil {
		return fmt.Errorf("resuming settlement tracking: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range done {
		s.trackLocked(e.Request.ID())
	}
	return nil
}

// Tracking lists the done requests whose transaction this node still
// follows.
func (s *Service) Tracking() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.tracked))
	for id := range s.tracked {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// trackSettlements runs on every tick: in the background (one run at a
// time; a tick during a run asks for one more pass), it asks the Tracker
// about every followed request, emits an event when the txid or
// confirmations changed, and stops following a request once its
// transaction has TrackConfirmations.
func (s *Service) trackSettlements() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.o.Tracker == nil || len(s.tracked) == 0 {
		return
	}
	if s.trackBusy {
		s.trackAgain = true
		return
	}
	s.trackBusy = true
	if !s.spawn(s.trackLoop) {
		s.trackBusy = false
	}
}

func (s *Service) trackLoop() {
	for {
		for _, id := range s.Tracking() {
			if s.ctx.Err() != nil {
				break
			}
			s.trackOne(id)
		}
		s.mu.Lock()
		if !s.trackAgain || s.ctx.Err() != nil {
			s.trackBusy, s.trackAgain = false, false
			s.mu.Unlock()
			return
		}
		s.trackAgain = false
		s.mu.Unlock()
	}
}

func (s *Service) trackOne(id string) {
	e, err := s.st.Get(id)
	if err != nil {
		return
	}
	s.mu.Lock()
	// The chain's last answer: remembered since this process first asked
	// (sched.track), else the stored record (read once: a decode per
	// member per pass was a storm's cost).
	last, known := s.sched.track[id]
	if !known {
		if prev, had := s.settlementLocked(id); had {
			last = trackKey(prev)
		}
	}
	req := s.plannedLocked(id, e.Request)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	rec, ok, err := s.o.Tracker(ctx, req)
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		s.log.Debug("tracking settlement", "request", short(id), "err", err)
		return
	case !ok:
		delete(s.tracked, id)
		delete(s.sched.track, id)
		// Nothing to pay on chain (a coinless canary drill).
		s.outcomeLocked(id, custody.Outcome{Kind: custody.OutcomeConfirmed})
		return
	}
	// Done means paid: the request's own transaction is in a block of
	// this node's own Bitcoin node (custody.Step). It is stepped only
	// when the chain's answer changed since its last step here: a storm's
	// batch has dozens of members tracked on every tick (issue 9).
	if s.sched.track == nil {
		s.sched.track = map[string]string{}
	}
	seen := trackKey(rec)
	if !known || last != seen {
		s.sched.track[id] = seen
		s.m.trackSteps.Inc()
		s.outcomeLocked(id, custody.Outcome{Kind: custody.OutcomeConfirmed, Found: true, TxID: rec.TxID, Confirmations: rec.Confirmations, Err: rec.Error})
	}
	if rec.Confirmations >= s.o.TrackConfirmations {
		delete(s.tracked, id)
		delete(s.sched.track, id)
	}
	if last == seen {
		return
	}
	detail := fmt.Sprintf("txid %s, %d confirmation(s)", rec.TxID, rec.Confirmations)
	if rec.Error != "" {
		detail += ": " + clip(rec.Error)
	}
	s.log.Info("settlement", "request", short(id), "txid", rec.TxID, "confirmations", rec.Confirmations)
	s.emit(Event{Type: EventSettlement, RequestID: id, Party: s.party, Status: e.Progress.Record.Status, Detail: detail})
}

// trackKey is what trackOne compares of the chain's answers.
func trackKey(rec Settlement) string {
	return fmt.Sprintf("%s|%d|%s", rec.TxID, rec.Confirmations, rec.Error)
}
