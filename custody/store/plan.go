package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/triad-custody/triad/custody"
)

// Sentinel errors of plans and reservations.
var (
	// ErrReserved: an outpoint of the plan is held by another open (or
	// paid) request.
	ErrReserved = errors.New("store: outpoint reserved by another request")
	// ErrPlanLocked: the request already has a plan this node signed for;
	// it never signs another one for the same request.
	ErrPlanLocked = errors.New("store: request already signing another plan")
)

// Plan is the coins a request is paid with at this node (or, on an EVM
// chain, the coordinator's choices for its one transaction: EVM), and
// whether this node has begun signing them (Locked: from then on the plan
// never changes, so two transactions paying one request can never both be
// signed).
type Plan struct {
	Inputs []custody.Input  `json:"inputs"`
	EVM    *custody.EVMPlan `json:"evm,omitempty"`
	Locked bool             `json:"locked,omitempty"`
}

func outpointKey(in custody.Input) []byte {
	return fmt.Appendf(nil, "%s:%d", in.TxID, in.Vout)
}

func samePlan(a, b []custody.Input) bool {
	key := func(in custody.Input) custody.Input {
		return custody.Input{TxID: in.TxID, Vout: in.Vout, Value: in.Value}
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if key(a[i]) != key(b[i]) {
			return false
		}
	}
	return true
}

// Reserve fixes inputs as request id's plan and reserves every outpoint
// for it, atomically: an outpoint another request holds (open, or paid:
// a done request's coins stay reserved, since a Bitcoin node lists them
// until its transaction confirms) fails the whole call with ErrReserved,
// naming it. The same plan again is no change (lock may turn it locked).
// A different plan replaces an unlocked one (its outpoints are released)
// and fails with ErrPlanLocked once this node has signed for the old one.
func (s *Store) Reserve(id string, inputs []custody.Input, lock bool) error {
	if len(inputs) == 0 {
		return fmt.Errorf("reserving coins of %.12s: %w: no inputs", id, custody.ErrMalformed)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		e, err := getEntry(tx, id)
		if err != nil {
			return err
		}
		if e.Progress.Record.Status.Terminal() {
			return fmt.Errorf("reserving coins of %.12s: %w: request is %s", id, ErrReserved, e.Progress.Record.Status)
		}
		prev, ok, err := planTx(tx, id)
		if err != nil {
			return err
		}
		if ok && !samePlan(prev.Inputs, inputs) {
			if prev.Locked {
				return fmt.Errorf("reserving coins of %.12s: %w", id, ErrPlanLocked)
			}
			if err := releaseTx(tx, id); err != nil {
				return err
			}
		}
		res := tx.Bucket(bucketReserved)
		for _, in := range inputs {
			k := outpointKey(in)
			if by := res.Get(k); by != nil && string(by) != id {
				if open, err := holds(tx, string(by)); err != nil {
					return err
				} else if open {
					return fmt.Errorf("reserving %s for %.12s: %w: %.12s", k, id, ErrReserved, by)
				}
			}
		}
		for _, in := range inputs {
			if err := res.Put(outpointKey(in), []byte(id)); err != nil {
				return err
			}
		}
		b, err := json.Marshal(Plan{Inputs: inputs, Locked: lock || ok && prev.Locked && samePlan(prev.Inputs, inputs)})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketPlans).Put([]byte(id), b)
	})
}

// PlanEVM fixes p as request id's plan on an EVM chain, as Reserve does
// for coins: the same plan again is no change (lock may turn it locked), a
// different plan replaces an unlocked one and fails with ErrPlanLocked
// once this node has signed for the old one. The nonce the plan uses is
// held apart (HoldNonce, once the node decided to sign), not here.
func (s *Store) PlanEVM(id string, p custody.EVMPlan, lock bool) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		e, err := getEntry(tx, id)
		if err != nil {
			return err
		}
		if e.Progress.Record.Status.Terminal() {
			return fmt.Errorf("planning %.12s: %w: request is %s", id, ErrReserved, e.Progress.Record.Status)
		}
		prev, ok, err := planTx(tx, id)
		if err != nil {
			return err
		}
		same := ok && prev.EVM != nil && *prev.EVM == p
		if ok && !same && prev.Locked {
			return fmt.Errorf("planning %.12s: %w", id, ErrPlanLocked)
		}
		if ok && len(prev.Inputs) > 0 {
			if err := releaseTx(tx, id); err != nil {
				return err
			}
		}
		b, err := json.Marshal(Plan{EVM: &p, Locked: lock || same && prev.Locked})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketPlans).Put([]byte(id), b)
	})
}

// holds reports whether request id still holds its reservations: it is
// open or paid. A request gone for good (or a reservation left by one
// that never existed) holds nothing.
func holds(tx *bolt.Tx, id string) (bool, error) {
	e, err := getEntry(tx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	st := e.Progress.Record.Status
	return !st.Terminal() || st == custody.StatusDone, nil
}

// PlanOf returns request id's plan at this node, if it has one.
func (s *Store) PlanOf(id string) (Plan, bool, error) {
	var p Plan
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		p, ok, err = planTx(tx, id)
		return err
	})
	return p, ok, err
}

func planTx(tx *bolt.Tx, id string) (Plan, bool, error) {
	v := tx.Bucket(bucketPlans).Get([]byte(id))
	if v == nil {
		return Plan{}, false, nil
	}
	var p Plan
	if err := json.Unmarshal(v, &p); err != nil {
		return Plan{}, false, fmt.Errorf("reading plan of %.12s: %w: %v", id, ErrCorrupt, err)
	}
	return p, true, nil
}

// releaseTx forgets request id's plan and frees its outpoints.
func releaseTx(tx *bolt.Tx, id string) error {
	p, ok, err := planTx(tx, id)
	if err != nil || !ok {
		return err
	}
	res := tx.Bucket(bucketReserved)
	for _, in := range p.Inputs {
		k := outpointKey(in)
		if by := res.Get(k); by != nil && string(by) == id {
			if err := res.Delete(k); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bucketPlans).Delete([]byte(id))
}

// Reserved reports which of ins another request than id holds now.
func (s *Store) Reserved(id string, ins []custody.Input) ([]custody.Input, error) {
	var out []custody.Input
	err := s.db.View(func(tx *bolt.Tx) error {
		res := tx.Bucket(bucketReserved)
		for _, in := range ins {
			by := res.Get(outpointKey(in))
			if by == nil || string(by) == id {
				continue
			}
			open, err := holds(tx, string(by))
			if err != nil {
				return err
			}
			if open {
				out = append(out, in)
			}
		}
		return nil
	})
	return slices.Clip(out), err
}
