package settle

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/triad-custody/triad/custody/store"
)

// Record is what happened to one request's transaction at this node.
type Record struct {
	RequestID string `json:"request_id"`
	TxID      string `json:"txid"`
	// Raw is the signed transaction, hex.
	Raw string `json:"raw"`
	Fee int64  `json:"fee"`
	// Vout is the request's own payment output in TxID, and Batch the ID
	// of the liquidation batch that pays it, for a batch member.
	Vout          *uint32   `json:"vout,omitempty"`
	Batch         string    `json:"batch,omitempty"`
	Broadcast     bool      `json:"broadcast"`
	Confirmations int64     `json:"confirmations"`
	Updated       time.Time `json:"updated"`
	// Error is the last broadcast or lookup failure, if any.
	Error string `json:"error,omitempty"`
}

// Recorder keeps settlement records by request ID; the custody store
// implements it (PutSettlement, Settlement).
type Recorder interface {
	PutSettlement(id string, record []byte) error
	Settlement(id string) ([]byte, bool, error)
}

// MemoryRecords is an in-memory Recorder for tests and tools.
type MemoryRecords struct {
	mu sync.Mutex
	m  map[string][]byte
}

var (
	_ Recorder = (*MemoryRecords)(nil)
	_ Recorder = (*store.Store)(nil)
)

// PutSettlement stores a record.
func (m *MemoryRecords) PutSettlement(id string, b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string][]byte{}
	}
	m.m[id] = append([]byte(nil), b...)
	return nil
}

// Settlement returns a record.
func (m *MemoryRecords) Settlement(id string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.m[id]
	return append([]byte(nil), b...), ok, nil
}

// Record returns this node's record of a request's transaction.
func (s *Settler) Record(id string) (Record, bool, error) {
	if s.cfg.Records == nil {
		return Record{}, false, nil
	}
	b, ok, err := s.cfg.Records.Settlement(id)
	if err != nil || !ok {
		return Record{}, false, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, false, fmt.Errorf("settlement record of %.12s: %w", id, err)
	}
	return r, true, nil
}

func (s *Settler) putRecord(r Record) error {
	if s.cfg.Records == nil {
		return nil
	}
	r.Updated = s.cfg.Now().UTC()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.cfg.Records.PutSettlement(r.RequestID, b)
}
