package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/triad-custody/triad/custody/audit"
)

// Liquidation batches (service/batch.go): one transaction pays several
// liquidations. A batch is counted once against its daily cap, however
// many members it has and however many times it is signed again.
var (
	bucketBatches  = []byte("liquidation_batches") // batch ID → batch document
	bucketBatchOf  = []byte("batch_members")       // member request ID → batch ID it last joined
	bucketBatchDay = []byte("batch_counted")       // batch ID → cap key it was counted under
)

// MaxBatchDoc bounds a stored batch document.
const MaxBatchDoc = 256 << 10

// BeginBatch records batch id (its document and its members, each of
// which now belongs to it) and counts it once against the daily cap
// capKey (custody.CapKey), refusing with ErrDailyCap when limit batches
// have begun that day (negative: no cap). The same batch again counts
// nothing and returns first false; every member must be a stored request.
func (s *Store) BeginBatch(id string, doc []byte, members []string, capKey string, limit int) (first bool, err error) {
	if id == "" || len(doc) == 0 || len(doc) > MaxBatchDoc || len(members) == 0 {
		return false, fmt.Errorf("beginning batch %.12s: %w: empty or oversized", id, ErrCorrupt)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		bs, err := tx.CreateBucketIfNotExists(bucketBatches)
		if err != nil {
			return err
		}
		of, err := tx.CreateBucketIfNotExists(bucketBatchOf)
		if err != nil {
			return err
		}
		days, err := tx.CreateBucketIfNotExists(bucketBatchDay)
		if err != nil {
			return err
		}
		if prev := bs.Get([]byte(id)); prev != nil {
			if string(prev) != string(doc) {
				return fmt.Errorf("beginning batch %.12s: %w: another document under the same ID", id, ErrCorrupt)
			}
		} else {
			if err := bs.Put([]byte(id), doc); err != nil {
				return err
			}
		}
		for _, m := range members {
			if tx.Bucket(bucketRequests).Get([]byte(m)) == nil {
				return fmt.Errorf("beginning batch %.12s: member %.12s: %w", id, m, ErrNotFound)
			}
			if err := of.Put([]byte(m), []byte(id)); err != nil {
				return err
			}
		}
		if days.Get([]byte(id)) != nil {
			return nil
		}
		if err := countSettlement(tx, capKey, limit); err != nil {
			return fmt.Errorf("beginning batch %.12s: %w", id, err)
		}
		first = true
		return days.Put([]byte(id), []byte(capKey))
	})
	return first, err
}

// Batch returns the document of batch id, if this node began or joined it.
func (s *Store) Batch(id string) ([]byte, bool, error) {
	return s.getBytes(bucketBatches, id)
}

// BatchOf returns the batch member request id last belonged to.
func (s *Store) BatchOf(member string) (string, bool, error) {
	b, ok, err := s.getBytes(bucketBatchOf, member)
	return string(b), ok, err
}

func (s *Store) getBytes(bucket []byte, key string) ([]byte, bool, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucket); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	return out, out != nil, err
}

// PutResults stores the results of several requests (a batch's members)
// and their audit records in one transaction: after a crash either every
// member holds its result or none does.
func (s *Store) PutResults(ids []string, results [][]byte, recs []audit.Entry) error {
	if len(ids) != len(results) || len(ids) != len(recs) {
		return fmt.Errorf("storing %d results: %w: %d documents, %d audit records", len(ids), ErrCorrupt, len(results), len(recs))
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketResults)
		if err != nil {
			return err
		}
		for i, id := range ids {
			if tx.Bucket(bucketRequests).Get([]byte(id)) == nil {
				return fmt.Errorf("storing result of request %.12s: %w", id, ErrNotFound)
			}
			if err := b.Put([]byte(id), results[i]); err != nil {
				return fmt.Errorf("storing result of request %.12s: %w", id, err)
			}
			if recs[i].Kind != "" {
				if _, err := audit.AppendTx(tx, recs[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
