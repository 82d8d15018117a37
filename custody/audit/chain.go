package audit

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketRecords = []byte("audit")
	bucketMeta    = []byte("audit_meta")
	keyHead       = []byte("head")
)

// ErrCorrupt: the stored chain cannot be read.
var ErrCorrupt = errors.New("audit: stored chain unreadable")

// Chain is the audit chain in a bbolt database shared with the custody
// store, so a state change and its audit record commit together.
type Chain struct{ db *bolt.DB }

// Open creates the chain's buckets if needed.
func Open(db *bolt.DB) (*Chain, error) {
	err := db.Update(func(tx *bolt.Tx) error { return Init(tx) })
	if err != nil {
		return nil, fmt.Errorf("opening audit chain: %w", err)
	}
	return &Chain{db: db}, nil
}

// Init creates the chain's buckets inside tx.
func Init(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketRecords, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// HeadTx reads the head inside tx.
func HeadTx(tx *bolt.Tx) (Head, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return Head{}, fmt.Errorf("reading audit head: %w: no buckets", ErrCorrupt)
	}
	v := meta.Get(keyHead)
	if v == nil {
		return GenesisHead(), nil
	}
	var h Head
	if err := json.Unmarshal(v, &h); err != nil {
		return Head{}, fmt.Errorf("reading audit head: %w: %v", ErrCorrupt, err)
	}
	return h, nil
}

// AppendTx appends e inside tx, the caller's read-write transaction.
func AppendTx(tx *bolt.Tx, e Entry) (Record, error) {
	head, err := HeadTx(tx)
	if err != nil {
		return Record{}, err
	}
	r, err := Next(head, e)
	if err != nil {
		return Record{}, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return Record{}, fmt.Errorf("appending audit record: %w", err)
	}
	hb, _ := json.Marshal(Head{Seq: r.Seq, Hash: r.Hash})
	if err := tx.Bucket(bucketRecords).Put(seqKey(r.Seq), b); err != nil {
		return Record{}, fmt.Errorf("appending audit record %d: %w", r.Seq, err)
	}
	if err := tx.Bucket(bucketMeta).Put(keyHead, hb); err != nil {
		return Record{}, fmt.Errorf("appending audit record %d: %w", r.Seq, err)
	}
	return r, nil
}

// Append appends e in its own transaction.
func (c *Chain) Append(e Entry) (Record, error) {
	var r Record
	err := c.db.Update(func(tx *bolt.Tx) error {
		var err error
		r, err = AppendTx(tx, e)
		return err
	})
	return r, err
}

// Head returns the current head.
func (c *Chain) Head() (Head, error) {
	var h Head
	err := c.db.View(func(tx *bolt.Tx) error {
		var err error
		h, err = HeadTx(tx)
		return err
	})
	return h, err
}

// Records returns up to limit records from seq from on (limit <= 0: all).
func (c *Chain) Records(from uint64, limit int) ([]Record, error) {
	var out []Record
	err := c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketRecords).Cursor()
		for k, v := cur.Seek(seqKey(from)); k != nil && (limit <= 0 || len(out) < limit); k, v = cur.Next() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("reading audit record %x: %w: %v", k, ErrCorrupt, err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// Record returns the record at seq.
func (c *Chain) Record(seq uint64) (Record, bool, error) {
	recs, err := c.Records(seq, 1)
	if err != nil || len(recs) == 0 || recs[0].Seq != seq {
		return Record{}, false, err
	}
	return recs[0], true, nil
}

// Verify checks the whole stored chain and that the stored head is its last
// record (a truncated chain with a stale head is caught here; a truncation
// that also rewrote the head is caught by comparing heads with peers).
func (c *Chain) Verify() error {
	recs, err := c.Records(1, 0)
	if err != nil {
		return err
	}
	if err := Verify(recs); err != nil {
		return fmt.Errorf("verifying audit chain: %w", err)
	}
	head, err := c.Head()
	if err != nil {
		return err
	}
	if got := HeadOf(GenesisHead(), recs); got != head {
		return fmt.Errorf("verifying audit chain: %w", &VerifyError{Seq: head.Seq, Reason: fmt.Sprintf("stored head %d does not match the last record %d", head.Seq, got.Seq)})
	}
	return nil
}

// CompareWith relates a peer's head (e.g. of its copy of our chain) to ours.
func (c *Chain) CompareWith(peer Head) (Divergence, error) {
	local, err := c.Head()
	if err != nil {
		return Divergence{}, err
	}
	var lookupErr error
	d := Compare(local, peer, func(seq uint64) (Record, bool) {
		r, ok, err := c.Record(seq)
		if err != nil {
			lookupErr = err
		}
		return r, ok
	})
	return d, lookupErr
}
