package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/store"
)

// Chain is the chain boundary the service depends on (Options.Coins): the
// plan of a typed request from this node's own chain node, checked
// against it, and held once this node decided to sign it. It assumes no
// coins: a plan is whatever the chain attaches to the request (coins on
// Bitcoin; nonce, fee caps and gas on an EVM chain). settle.Chains
// implements it, dispatching each request to its chain's
// settle.ChainSettler (this interface, plus the digests, finalization,
// broadcast and tracking of the transaction). Without it no request has a
// plan and every request signs as the Digester computes it from the
// request alone.
type Chain interface {
	// Pays reports whether req is paid by a transaction that needs a plan.
	Pays(req custody.Request) bool
	// Plan returns req with the coordinator's plan from its own chain
	// node. held reports which of the candidate coins other requests hold
	// in the node's store (a chain without coins keeps its own holds and
	// ignores it).
	Plan(ctx context.Context, req custody.Request, held func([]custody.Input) ([]custody.Input, error)) (custody.Request, error)
	// Check checks req's plan against this node's policy and its own
	// chain node, refusing any mismatch (and any plan, without one); it
	// holds nothing.
	Check(ctx context.Context, req custody.Request) error
	// Hold holds what the plan uses apart from coins (an EVM plan's
	// account nonce) once this node decided to sign it; coins are
	// reserved by the service's store. The service calls it under its
	// lock when it locks a plan, after custody.DecideJoin, never from
	// Check: a request this node refuses or waits on holds nothing.
	Hold(req custody.Request) error
	// Batches reports whether req, a liquidation, is paid in a liquidation
	// batch of its chain (a Bitcoin batch transaction); an EVM transfer is
	// signed on its own.
	Batches(req custody.Request) bool
}

// ErrNoPlan: a transfer that must be paid by a checked plan came without one.
var ErrNoPlan = errors.New("custody: transfer without a plan")

// planFor is the coordinator's plan of request id: the one this node
// already holds, checked again on its Bitcoin node and then locked (the
// attempt about to sign it calls here), or coins it chooses now, reserved
// but not yet locked (plannedHereLocked, before any attempt), so another
// choice may still replace them if they stop checking out. No other
// request here can take reserved coins, and once locked this node never
// signs another plan for id. A request that needs no plan is returned as
// it is.
func (s *Service) planFor(ctx context.Context, id string, req custody.Request) (custody.Request, error) {
	if s.o.Coins == nil || !s.o.Coins.Pays(req) {
		return req, nil
	}
	have, ok, err := s.st.PlanOf(id)
	if err != nil {
		return req, err
	}
	if ok {
		planned := req.WithInputs(have.Inputs).WithEVMPlan(have.EVM)
		err := s.o.Coins.Check(ctx, planned)
		if err == nil || have.Locked {
			if err == nil {
				err = s.keepPlan(id, planned, true)
			}
			return planned, err
		}
		s.log.Warn("planned coins no longer check out; choosing again", "request", short(id), "err", err)
	}
	// Choosing and reserving are one step per account at this node: two
	// requests of one account never race for the same coin here.
	unlock := s.choosing.lock(req.Account)
	defer unlock()
	planned, err := s.o.Coins.Plan(ctx, req, func(c []custody.Input) ([]custody.Input, error) { return s.st.Reserved(id, c) })
	if err != nil {
		return req, err
	}
	if err := s.keepPlan(id, planned, false); err != nil {
		return req, err
	}
	s.log.Info("plan reserved", "request", short(id), "inputs", len(planned.Inputs), "evm", planned.EVM != nil)
	return planned, nil
}

// keepPlan stores req's plan as request id's at this node: its coins
// reserved (store.Reserve) or its EVM plan (store.PlanEVM), locked once
// this node signs it; a locked EVM plan's nonce is held then (Chain.Hold).
func (s *Service) keepPlan(id string, req custody.Request, lock bool) error {
	if req.EVM != nil {
		if lock {
			if err := s.o.Coins.Hold(req); err != nil {
				return err
			}
		}
		return s.st.PlanEVM(id, *req.EVM, lock)
	}
	return s.st.Reserve(id, req.Inputs, lock)
}

// plannedHereLocked reports whether the coordinator may begin an attempt
// on request id: it needs no plan, or holds one. Otherwise coins are
// chosen and reserved off the lock first, and the request steps again
// when they are; a request whose coins cannot be had now (none free, the
// Bitcoin node down or busy) waits, saying why in its view, and is tried
// again on the next tick. No attempt and no daily settlement is spent on
// waiting for coins.
func (s *Service) plannedHereLocked(id string, req custody.Request) bool {
	if s.o.Coins == nil || !s.o.Coins.Pays(req) {
		return true
	}
	if _, ok, err := s.st.PlanOf(id); err == nil && ok {
		return true
	}
	if s.planning[id] {
		return false
	}
	s.planning[id] = true
	ok := s.spawn(func() {
		ctx, cancel := context.WithTimeout(s.ctx, s.o.SignTimeout)
		_, err := s.planFor(ctx, id, req)
		cancel()
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.planning, id)
		if s.closed {
			return
		}
		if err != nil {
			why := "waiting for coins: " + err.Error()
			if s.waiting[id] != why {
				s.waiting[id] = why
				s.log.Warn("no coins reserved yet", "request", short(id), "err", err)
				s.emit(Event{Type: EventStatus, RequestID: id, Party: s.party, Status: custody.StatusApproved, Detail: why})
			}
			return
		}
		delete(s.waiting, id)
		s.stepLocked(id)
	})
	if !ok {
		delete(s.planning, id)
	}
	return false
}

// lineUpLocked puts an approved request this node coordinates in line for
// signing (MaxAttempts are in flight); its view says so.
func (s *Service) lineUpLocked(id string) {
	if !slices.Contains(s.inLine, id) {
		s.inLine = append(s.inLine, id)
	}
	s.waiting[id] = fmt.Sprintf("queued for signing: %d attempts in flight here, %d in line", len(s.inflight), len(s.inLine))
}

func (s *Service) leaveLineLocked(id string) {
	if i := slices.Index(s.inLine, id); i >= 0 {
		s.inLine = slices.Delete(s.inLine, i, i+1)
		delete(s.waiting, id)
	}
}

// nextInLineLocked steps the oldest request in line, now that an attempt
// is over.
func (s *Service) nextInLineLocked() {
	if len(s.inLine) == 0 {
		return
	}
	id := s.inLine[0]
	s.leaveLineLocked(id)
	s.work.pushOwn(func() { s.step(id) })
}

// joinedOverLocked reports whether this node, a partner in signing
// request id, holds no live session for it any more: the attempt it
// joined is over (its coordinator finished, failed or went away), so the
// request may move on here too. Expired sessions are forgotten.
func (s *Service) joinedOverLocked(id string) bool {
	if s.inflight[id] != "" {
		return false
	}
	if len(s.batch.runs) > 0 { // a member of a batch this node coordinates
		if bid, ok, err := s.st.BatchOf(id); err != nil || ok && s.batch.runs[bid] != nil {
			return false
		}
	}
	live := false
	for key, ls := range s.sessions {
		// A request's own sessions ("<id>/<input>") and its batch's ("batch|<id>").
		if rid, _, _ := strings.Cut(key, "/"); rid != id && key != "batch|"+id {
			continue
		}
		if s.live(ls) {
			live = true
		} else {
			delete(s.sessions, key)
		}
	}
	return !live
}

// checkPlan is a partner's check of the plan a coordinator proposes,
// before it locks anything: a plan is looked up on this node's own
// Bitcoin node (every input), and a transfer that needs one must bring
// one. Checks are remembered per attempt (one per input session).
func (s *Service) checkPlan(ctx context.Context, req custody.Request, attempt string) error {
	if len(req.Inputs) == 0 && req.EVM == nil {
		if s.o.Coins != nil && s.o.Coins.Pays(req) {
			return fmt.Errorf("%w: this node pays %s only with coins it checked", ErrNoPlan, req.Kind)
		}
		return nil
	}
	if s.o.Coins == nil {
		return fmt.Errorf("%w: this node has no settlement configured and signs no plan", ErrNoPlan)
	}
	key := req.ID() + "/" + attempt
	if s.checked.seen(key) {
		return nil
	}
	if err := s.o.Coins.Check(ctx, req); err != nil {
		return err
	}
	s.checked.add(key)
	return nil
}

// reservePlanLocked reserves and locks a plan this node is about to sign
// or has seen signed. A plan whose coins another open request holds here,
// or a second plan for a request this node signed, is refused.
func (s *Service) reservePlanLocked(id string, req custody.Request) error {
	if len(req.Inputs) == 0 && req.EVM == nil {
		return nil
	}
	if err := s.keepPlan(id, req, true); err != nil {
		if errors.Is(err, store.ErrReserved) || errors.Is(err, store.ErrPlanLocked) {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return err
	}
	return nil
}

// plannedLocked is request req (stored, without plan) with the plan this
// node knows: the coins of its complete signature, else its reservation.
func (s *Service) plannedLocked(id string, req custody.Request) custody.Request {
	if res, ok := s.resultLocked(id); ok && (len(res.Inputs) > 0 || res.EVM != nil) {
		return res.planned(req)
	}
	if p, ok, err := s.st.PlanOf(id); err == nil && ok {
		return req.WithInputs(p.Inputs).WithEVMPlan(p.EVM)
	}
	return req
}

// keyedMutex serialises work per key (an account); keys are few (the
// policy's accounts) and never forgotten.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*sync.Mutex{}
	}
	l := k.m[key]
	if l == nil {
		l = &sync.Mutex{}
		k.m[key] = l
	}
	k.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// seenSet is a bounded set of keys (checked plans per attempt).
type seenSet struct {
	mu   sync.Mutex
	keys map[string]bool
	fifo []string
}

const seenMax = 4096

func (c *seenSet) seen(k string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[k]
}

func (c *seenSet) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = map[string]bool{}
	}
	if c.keys[k] {
		return
	}
	c.keys[k] = true
	c.fifo = append(c.fifo, k)
	if len(c.fifo) > seenMax {
		delete(c.keys, c.fifo[0])
		c.fifo = c.fifo[1:]
	}
}
