package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/triad-custody/triad/custody"
)

// bucketSigned keeps each recorded operator approval or veto as signed,
// keyed "<request id>/<party>/<stance>", so the node can offer it to a
// peer that missed it (it verifies it itself; the signature travels).
var bucketSigned = []byte("signed_approvals")

func putSigned(tx *bolt.Tx, a custody.Approval) error {
	b, err := tx.CreateBucketIfNotExists(bucketSigned)
	if err != nil {
		return err
	}
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return b.Put(signedKey(a.RequestID, a.Party, a.Stance), v)
}

func signedKey(id string, p custody.Party, s custody.Stance) []byte {
	return []byte(id + "/" + string(p) + "/" + string(s))
}

// SignedApprovals returns the signed approvals and vetoes recorded for
// request id, in key order (party, then stance).
func (s *Store) SignedApprovals(id string) ([]custody.Approval, error) {
	var out []custody.Approval
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSigned)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		prefix := []byte(id + "/")
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var a custody.Approval
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("signed approval %s: %w", k, err)
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}
