package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketSettlements holds what became of each request's Bitcoin
// transaction at this node (package settle's records: txid, raw
// transaction, broadcast, confirmations), by request ID.
var bucketSettlements = []byte("btc_settlements")

// PutSettlement stores the settlement record of a request (an opaque
// JSON document of package settle). The request must exist.
func (s *Store) PutSettlement(id string, record []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRequests).Get([]byte(id)) == nil {
			return fmt.Errorf("storing settlement of request %.12s: %w", id, ErrNotFound)
		}
		b, err := tx.CreateBucketIfNotExists(bucketSettlements)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), record)
	})
}

// Settlement returns the settlement record of a request, if any.
func (s *Store) Settlement(id string) ([]byte, bool, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketSettlements); b != nil {
			if v := b.Get([]byte(id)); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	return out, out != nil, err
}
