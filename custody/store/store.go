package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
)

// Sentinel errors.
var (
	ErrNotFound            = errors.New("store: request not found")
	ErrIdempotencyConflict = errors.New("store: idempotency key reused with a different request")
	ErrEvidenceReused      = errors.New("store: margin-call evidence already used by another request")
	ErrDailyCap            = errors.New("store: daily settlement cap reached")
	ErrCorrupt             = errors.New("store: stored data unreadable")
)

var (
	bucketRequests = []byte("requests")
	bucketIdem     = []byte("idempotency")
	bucketEvidence = []byte("evidence_nonces")
	bucketNonces   = []byte("approval_nonces")
	bucketDays     = []byte("settlements")
	bucketPlans    = []byte("plans")
	bucketReserved = []byte("reserved_outpoints")
)

// Entry is a stored request and this node's progress on it.
type Entry struct {
	Request  custody.Request
	Progress custody.Progress
}

type storedEntry struct {
	Request  json.RawMessage  `json:"request"` // canonical encoding
	Progress custody.Progress `json:"progress"`
}

// Store is one node's custody store.
type Store struct {
	db    *bolt.DB
	party custody.Party
	chain *audit.Chain
}

var _ custody.NonceStore = (*Store)(nil)

// Open opens (or creates) the store at path for this node's party. It waits
// at most a second for the file lock.
func Open(path string, party custody.Party) (*Store, error) {
	if !party.Valid() {
		return nil, fmt.Errorf("opening store: unknown party %q", party)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRequests, bucketIdem, bucketEvidence, bucketNonces, bucketDays, bucketPlans, bucketReserved, bucketNonceHolds, bucketNonceOf} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return audit.Init(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	chain, err := audit.Open(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, party: party, chain: chain}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Audit returns the node's audit chain (same file).
func (s *Store) Audit() *audit.Chain { return s.chain }

func idemKey(r custody.Request) []byte {
	return []byte(string(r.Requester.Party) + "\x00" + r.Requester.Caller + "\x00" + r.IdempotencyKey)
}

func getEntry(tx *bolt.Tx, id string) (Entry, error) {
	v := tx.Bucket(bucketRequests).Get([]byte(id))
	if v == nil {
		return Entry{}, fmt.Errorf("reading request %.12s: %w", id, ErrNotFound)
	}
	var se storedEntry
	if err := json.Unmarshal(v, &se); err != nil {
		return Entry{}, fmt.Errorf("reading request %.12s: %w: %v", id, ErrCorrupt, err)
	}
	req, rid, err := decodeStored(se.Request)
	if err != nil || rid != id {
		return Entry{}, fmt.Errorf("reading request %.12s: %w: stored request does not match its ID", id, ErrCorrupt)
	}
	return Entry{Request: req, Progress: se.Progress}, nil
}

func putEntry(tx *bolt.Tx, e Entry) error {
	b, err := json.Marshal(storedEntry{Request: e.Request.Canonical(), Progress: e.Progress})
	if err != nil {
		return fmt.Errorf("writing request %.12s: %w", e.Request.ID(), err)
	}
	return tx.Bucket(bucketRequests).Put([]byte(e.Request.ID()), b)
}

// Propose stores a new request, or returns the one already stored under
// the same idempotency key (created false). The same key with a different
// body is ErrIdempotencyConflict; liquidation evidence whose nonce another
// request already used is ErrEvidenceReused. The first-seen time on this
// node's clock starts the request's timeline. Only the request itself is
// stored, never a plan (Inputs): coins are reserved by Reserve.
func (s *Store) Propose(req custody.Request, now time.Time) (Entry, bool, error) {
	req = req.Normalize().Base()
	if err := req.Validate(); err != nil {
		return Entry{}, false, fmt.Errorf("proposing request: %w", err)
	}
	id := req.ID()
	var out Entry
	created := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		if prev := tx.Bucket(bucketIdem).Get(idemKey(req)); prev != nil {
			if string(prev) != id {
				return fmt.Errorf("proposing request %.12s with idempotency key %q: %w (stored %.12s)", id, req.IdempotencyKey, ErrIdempotencyConflict, prev)
			}
			var err error
			out, err = getEntry(tx, id)
			return err
		}
		if req.Evidence != nil {
			ek := []byte(req.Evidence.Nonce)
			if prev := tx.Bucket(bucketEvidence).Get(ek); prev != nil && string(prev) != id {
				return fmt.Errorf("proposing request %.12s: %w (by %.12s)", id, ErrEvidenceReused, prev)
			}
			if err := tx.Bucket(bucketEvidence).Put(ek, []byte(id)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketIdem).Put(idemKey(req), []byte(id)); err != nil {
			return err
		}
		out = Entry{Request: req, Progress: custody.Progress{
			Record:   custody.NewRecord(id, now),
			Timeline: custody.Timeline{FirstSeen: now.Round(0).UTC()},
		}}
		created = true
		if err := putEntry(tx, out); err != nil {
			return err
		}
		_, err := audit.AppendTx(tx, audit.Entry{Time: now, Kind: audit.KindRequest, RequestID: id, Party: string(req.Requester.Party), Payload: id})
		return err
	})
	if err != nil {
		return Entry{}, false, err
	}
	return out, created, nil
}

// Get returns a stored request.
func (s *Store) Get(id string) (Entry, error) {
	var e Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		e, err = getEntry(tx, id)
		return err
	})
	return e, err
}

// State returns the request and this node's state for Evaluate at now:
// progress plus the settlement count of now's UTC day. Exposure is the
// caller's to add.
func (s *Store) State(id string, now time.Time) (custody.Request, custody.State, error) {
	e, err := s.Get(id)
	if err != nil {
		return custody.Request{}, custody.State{}, err
	}
	counts := map[string]int{}
	for _, class := range []string{"", custody.CapLiquidation} {
		key := custody.CapKey(custody.DayKey(now), class)
		if counts[key], err = s.Settlements(key); err != nil {
			return custody.Request{}, custody.State{}, err
		}
	}
	return e.Request, custody.State{Progress: e.Progress, Settlements: counts}, nil
}

// Pending lists requests not in a terminal status (to resume after a restart).
func (s *Store) Pending() ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRequests).ForEach(func(k, _ []byte) error {
			e, err := getEntry(tx, string(k))
			if err != nil {
				return err
			}
			if !e.Progress.Record.Status.Terminal() {
				out = append(out, e)
			}
			return nil
		})
	})
	return out, err
}

// update loads an entry, lets fn change it and append audit entries, and
// writes it back, all in one transaction.
func (s *Store) update(id string, fn func(tx *bolt.Tx, e *Entry) error) (Entry, error) {
	var out Entry
	err := s.db.Update(func(tx *bolt.Tx) error {
		e, err := getEntry(tx, id)
		if err != nil {
			return err
		}
		if err := fn(tx, &e); err != nil {
			return err
		}
		out = e
		return putEntry(tx, e)
	})
	return out, err
}

// Apply runs the state machine on the stored record and persists the new
// record with its audit record atomically. The first EvBegin of a
// fund-moving request counts one settlement of its cap class (ev.Cap) for
// today and is refused with ErrDailyCap once limit have begun (negative:
// no cap); an Uncapped one (a drill on a canary key) is neither counted
// nor refused. A request that ends without being paid (rejected, vetoed,
// lapsed, failed) releases the outpoints it reserved in the same
// transaction.
func (s *Store) Apply(id string, ev custody.Event, limit int) (Entry, error) {
	return s.update(id, func(tx *bolt.Tx, e *Entry) error {
		next, err := custody.Transition(e.Progress.Record, ev)
		if err != nil {
			return err
		}
		if ev.Type == custody.EvBegin && e.Progress.Record.Attempts == 0 && e.Request.Kind.MovesFunds() && !ev.Uncapped {
			if err := countSettlement(tx, custody.CapKey(custody.DayKey(ev.At), ev.Cap), limit); err != nil {
				return fmt.Errorf("beginning signing of request %.12s: %w", id, err)
			}
		}
		if next.Status.Terminal() && next.Status != custody.StatusDone {
			if err := releaseTx(tx, id); err != nil {
				return err
			}
		}
		e.Progress.Record = next
		payload := audit.Digest(fmt.Appendf(nil, "%s|%s|%d|%s", id, next.Status, next.Attempts, next.Reason))
		_, err = audit.AppendTx(tx, audit.Entry{Time: ev.At, Kind: audit.KindStatus, RequestID: id, Party: string(s.party), Payload: payload})
		return err
	})
}

func countSettlement(tx *bolt.Tx, day string, limit int) error {
	b := tx.Bucket(bucketDays)
	var n uint64
	if v := b.Get([]byte(day)); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	if limit >= 0 && n >= uint64(limit) {
		return fmt.Errorf("%w: %d of %d on %s", ErrDailyCap, n, limit, day)
	}
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, n+1)
	return b.Put([]byte(day), v)
}

// Settlements returns how many fund-moving requests began signing under a
// cap key (custody.CapKey: a day, and a class).
func (s *Store) Settlements(day string) (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketDays).Get([]byte(day)); len(v) == 8 {
			n = int(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return n, err
}

// AddApproval records a verified operator approval or veto (check it first
// with custody.VerifyApproval) and consumes its nonce in the same
// transaction: a replay fails with custody.ErrReplay and changes nothing.
func (s *Store) AddApproval(id string, a custody.Approval, now time.Time) (Entry, error) {
	if a.RequestID != id {
		return Entry{}, fmt.Errorf("recording approval for request %.12s: %w", id, custody.ErrMismatch)
	}
	return s.update(id, func(tx *bolt.Tx, e *Entry) error {
		if err := useNonce(tx, a.Party, a.Nonce, a.Expires); err != nil {
			return err
		}
		if err := putSigned(tx, a); err != nil {
			return err
		}
		en := a.Endorse(now)
		kind := audit.KindApproval
		if a.Stance == custody.Veto {
			kind = audit.KindVeto
			e.Progress.Vetoes = put(e.Progress.Vetoes, en)
		} else {
			e.Progress.Approvals = put(e.Progress.Approvals, en)
		}
		_, err := audit.AppendTx(tx, audit.Entry{Time: now, Kind: kind, RequestID: id, Party: string(a.Party), Payload: en.Digest})
		return err
	})
}

// AddAutoApproval records a party's automatic approval (this node's own,
// after Evaluate said Auto, or a peer's, reported over its authenticated
// channel).
func (s *Store) AddAutoApproval(id string, party custody.Party, now time.Time) (Entry, error) {
	return s.update(id, func(tx *bolt.Tx, e *Entry) error {
		if _, ok := e.Progress.Approvals[party]; ok {
			return nil
		}
		en := custody.Endorsement{Party: party, Stance: custody.Approve, Auto: true, At: now.Round(0).UTC()}
		e.Progress.Approvals = put(e.Progress.Approvals, en)
		_, err := audit.AppendTx(tx, audit.Entry{Time: now, Kind: audit.KindApproval, RequestID: id, Party: string(party),
			Payload: audit.Digest([]byte("auto|" + id + "|" + string(party)))})
		return err
	})
}

func put(m map[custody.Party]custody.Endorsement, e custody.Endorsement) map[custody.Party]custody.Endorsement {
	if m == nil {
		m = map[custody.Party]custody.Endorsement{}
	}
	m[e.Party] = e
	return m
}

// Witness adds d of monotonic time (a custody.Stopwatch lap) to the
// timeline of every open request, in one transaction.
func (s *Store) Witness(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		var ids []string
		err := tx.Bucket(bucketRequests).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			e, err := getEntry(tx, id)
			if err != nil {
				return err
			}
			if e.Progress.Record.Status.Terminal() {
				continue
			}
			e.Progress.Timeline = e.Progress.Timeline.Advance(d)
			if err := putEntry(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// UseNonce implements custody.NonceStore.
func (s *Store) UseNonce(party custody.Party, nonce string, expires time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error { return useNonce(tx, party, nonce, expires) })
}

func useNonce(tx *bolt.Tx, party custody.Party, nonce string, expires time.Time) error {
	b := tx.Bucket(bucketNonces)
	k := []byte(string(party) + "\x00" + nonce)
	if b.Get(k) != nil {
		return fmt.Errorf("using nonce of %s: %w", party, custody.ErrReplay)
	}
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, uint64(expires.Unix()))
	return b.Put(k, v)
}

// PruneNonces forgets approval nonces that expired before now (their
// approvals are refused as expired anyway) and returns how many.
func (s *Store) PruneNonces(now time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketNonces).Cursor()
		for k, v := c.First(); k != nil; {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < now.Unix() {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
				k, v = c.Seek(k)
				continue
			}
			k, v = c.Next()
		}
		return nil
	})
	return n, err
}
