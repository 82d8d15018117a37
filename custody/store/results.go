package store

import (
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
)

var bucketResults = []byte("results")

// Lookup returns the ID stored under a requester's idempotency key, so a
// node can fill in fields a retried call left out before it compares.
func (s *Store) Lookup(party custody.Party, caller, idempotencyKey string) (string, bool, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		r := custody.Request{Requester: custody.Requester{Party: party, Caller: caller}, IdempotencyKey: idempotencyKey}
		if v := tx.Bucket(bucketIdem).Get(idemKey(r)); v != nil {
			id = string(v)
		}
		return nil
	})
	return id, id != "", err
}

// List returns every stored request that keep accepts (nil: all), newest
// first by the time this node first saw it.
func (s *Store) List(keep func(Entry) bool) ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRequests).ForEach(func(k, _ []byte) error {
			e, err := getEntry(tx, string(k))
			if err != nil {
				return err
			}
			if keep == nil || keep(e) {
				out = append(out, e)
			}
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Progress.Timeline.FirstSeen, out[j].Progress.Timeline.FirstSeen
		if !a.Equal(b) {
			return a.After(b)
		}
		return out[i].Request.ID() < out[j].Request.ID()
	})
	return out, err
}

// PutResult stores the outcome of signing a request (an opaque JSON
// document of the caller's: signatures, signers) and appends its audit
// record in the same transaction. The request must exist.
func (s *Store) PutResult(id string, result []byte, rec audit.Entry) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRequests).Get([]byte(id)) == nil {
			return fmt.Errorf("storing result of request %.12s: %w", id, ErrNotFound)
		}
		b, err := tx.CreateBucketIfNotExists(bucketResults)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(id), result); err != nil {
			return fmt.Errorf("storing result of request %.12s: %w", id, err)
		}
		if rec.Kind == "" {
			return nil
		}
		_, err = audit.AppendTx(tx, rec)
		return err
	})
}

// Result returns the stored outcome of a request, if any.
func (s *Store) Result(id string) ([]byte, bool, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketResults); b != nil {
			if v := b.Get([]byte(id)); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	return out, out != nil, err
}
