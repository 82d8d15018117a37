package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ErrNonceHeld: an EVM account's nonce is held by another open (or paid)
// request, or the request holds another nonce of the account.
var ErrNonceHeld = errors.New("store: nonce held by another request")

// Buckets of EVM nonce holds: which request holds which nonce of an
// account on a chain (key: chain ID, account, nonce; value: request ID),
// and the one nonce each request holds (key: request ID; value: the same
// 36-byte key).
var (
	bucketNonceHolds = []byte("evm_nonce_holds")
	bucketNonceOf    = []byte("evm_nonce_of")
)

// nonceKey is chain ID (8 bytes) | account (20) | nonce (8), big-endian,
// so one account's nonces are one ordered prefix.
func nonceKey(chainID uint64, account [20]byte, nonce uint64) []byte {
	k := binary.BigEndian.AppendUint64(nil, chainID)
	k = append(k, account[:]...)
	return binary.BigEndian.AppendUint64(k, nonce)
}

// HoldNonce gives nonce of account on chain chainID to request id, as
// Reserve gives it coins: refused (ErrNonceHeld) while another open or
// paid request holds it, or while id holds another nonce (one request, one
// nonce: a replacement reuses it). A hold left by a request that ended
// unpaid is free again. id must be stored here and open. Holding the same
// nonce again is no change.
func (s *Store) HoldNonce(chainID uint64, account [20]byte, nonce uint64, id string) error {
	return s.putNonce(nonceKey(chainID, account, nonce), id, func(by string) error {
		if by != "" && by != id {
			return fmt.Errorf("holding nonce %d for %.12s: %w: %.12s", nonce, id, ErrNonceHeld, by)
		}
		return nil
	})
}

// ReplaceNonce hands nonce of account on chain chainID, held by request
// old whose transaction is stuck, to request id, the replacement at the
// same nonce: refused (ErrNonceHeld) unless old (open or paid) or id holds
// it, while id holds another nonce, or once id has ended. id must be
// stored here. old keeps its own record of the nonce it used.
func (s *Store) ReplaceNonce(chainID uint64, account [20]byte, nonce uint64, old, id string) error {
	return s.putNonce(nonceKey(chainID, account, nonce), id, func(by string) error {
		if by == "" || by != id && by != old {
			return fmt.Errorf("replacing at nonce %d for %.12s: %w: held by %q, not by %.12s", nonce, id, ErrNonceHeld, by, old)
		}
		return nil
	})
}

// putNonce makes open request id the holder of nonce key k, unless id
// ended, holds another nonce, or may refuses k's live holder ("" for none).
func (s *Store) putNonce(k []byte, id string, may func(by string) error) error {
	nonce := binary.BigEndian.Uint64(k[28:])
	return s.db.Update(func(tx *bolt.Tx) error {
		e, err := getEntry(tx, id)
		if err != nil {
			return err
		}
		if e.Progress.Record.Status.Terminal() {
			return fmt.Errorf("holding nonce %d for %.12s: %w: request is %s", nonce, id, ErrNonceHeld, e.Progress.Record.Status)
		}
		if prev := tx.Bucket(bucketNonceOf).Get([]byte(id)); prev != nil && !bytes.Equal(prev, k) {
			return fmt.Errorf("holding nonce %d for %.12s: %w: it holds nonce %d", nonce, id, ErrNonceHeld, binary.BigEndian.Uint64(prev[28:]))
		}
		by, err := liveHolder(tx, k)
		if err != nil {
			return err
		}
		if err := may(by); err != nil {
			return err
		}
		if err := tx.Bucket(bucketNonceHolds).Put(k, []byte(id)); err != nil {
			return err
		}
		return tx.Bucket(bucketNonceOf).Put([]byte(id), k)
	})
}

// liveHolder is the request holding key k, "" when none or when the one
// recorded ended unpaid (its hold is then dropped from the index).
func liveHolder(tx *bolt.Tx, k []byte) (string, error) {
	by := tx.Bucket(bucketNonceHolds).Get(k)
	if by == nil {
		return "", nil
	}
	id := string(by)
	live, err := holds(tx, id)
	if err != nil || live {
		return id, err
	}
	if tx.Writable() {
		if err := tx.Bucket(bucketNonceOf).Delete([]byte(id)); err != nil {
			return "", err
		}
	}
	return "", nil
}

// NonceHolder returns the open or paid request holding nonce of account on
// chain chainID, if any.
func (s *Store) NonceHolder(chainID uint64, account [20]byte, nonce uint64) (string, bool, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		id, err = liveHolder(tx, nonceKey(chainID, account, nonce))
		return err
	})
	return id, id != "", err
}

// NonceHeldBy returns the nonce of account on chain chainID that request
// id holds, if it holds one and is still open or paid.
func (s *Store) NonceHeldBy(chainID uint64, account [20]byte, id string) (uint64, bool, error) {
	var nonce uint64
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		k := tx.Bucket(bucketNonceOf).Get([]byte(id))
		if len(k) != 36 || !bytes.Equal(k[:28], nonceKey(chainID, account, 0)[:28]) {
			return nil
		}
		live, err := holds(tx, id)
		if err != nil || !live {
			return err
		}
		nonce, ok = binary.BigEndian.Uint64(k[28:]), true
		return nil
	})
	return nonce, ok, err
}

// NextNonce returns the lowest nonce of account at or above from that no
// open or paid request holds, and the highest nonce such a request holds
// plus one (or from, if none is held at or above from).
func (s *Store) NextNonce(chainID uint64, account [20]byte, from uint64) (free, end uint64, err error) {
	free, end = from, from
	err = s.db.View(func(tx *bolt.Tx) error {
		prefix := nonceKey(chainID, account, 0)[:28]
		held := map[uint64]bool{}
		c := tx.Bucket(bucketNonceHolds).Cursor()
		for k, v := c.Seek(nonceKey(chainID, account, from)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			live, err := holds(tx, string(v))
			if err != nil {
				return err
			}
			if live {
				n := binary.BigEndian.Uint64(k[28:])
				held[n], end = true, n+1
			}
		}
		for held[free] {
			free++
		}
		return nil
	})
	return free, end, err
}

// ReleaseNonce frees the nonce request id holds (it ended unpaid, or its
// plan was never signed). Releasing a request that holds none is no change.
func (s *Store) ReleaseNonce(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		k := tx.Bucket(bucketNonceOf).Get([]byte(id))
		if k == nil {
			return nil
		}
		if by := tx.Bucket(bucketNonceHolds).Get(k); by != nil && string(by) == id {
			if err := tx.Bucket(bucketNonceHolds).Delete(k); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketNonceOf).Delete([]byte(id))
	})
}
