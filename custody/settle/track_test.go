package settle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/settle"
)

// confChain answers every transaction's confirmations and counts the
// questions.
type confChain struct {
	memChain
	mu    sync.Mutex
	n     int64
	asked int
}

func (c *confChain) Confirmations(context.Context, *chainhash.Hash) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked++
	return c.n, nil
}

func (c *confChain) set(n int64) (asked int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	asked, c.n, c.asked = c.asked, n, 0
	return asked
}

// countedRecords counts settlement record writes.
type countedRecords struct {
	settle.MemoryRecords
	mu     sync.Mutex
	writes int
}

func (r *countedRecords) PutSettlement(id string, b []byte) error {
	r.mu.Lock()
	r.writes++
	r.mu.Unlock()
	return r.MemoryRecords.PutSettlement(id, b)
}

func (r *countedRecords) take() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.writes
	r.writes = 0
	return n
}

// ../shared/SECURITY.md scenario 26 (issue 9, the storm's drain): every member of
// a liquidation batch is paid by the same transaction, so a tracking
// pass over the batch asks this node's Bitcoin node about it once, not
// once per member, and writes a member's settlement record only when
// its confirmations changed. Each member still reports the batch's
// confirmations.
func TestTrackBatchOncePerTransaction(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	chain := &confChain{memChain: *newMemChain()}
	recs := &countedRecords{}
	now := created
	s, err := settle.New(settle.Config{Network: network, Policy: w.policyFor("exchange"), Keys: keysOf(t, "exchange"),
		Chain: chain, Records: recs, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	track := s.Tracker()
	const members = 50
	txid := fmt.Sprintf("%064x", 7)
	reqs := make([]custody.Request, members)
	for i := range reqs {
		m := liquidation(w, 100_000, 5)
		m.IdempotencyKey = fmt.Sprintf("liq-%d", i)
		m = m.WithInputs([]custody.Input{coin(fmt.Sprintf("m%d", i), 0, 200_000)})
		reqs[i] = m
		vout := uint32(i)
		b, err := json.Marshal(settle.Record{RequestID: m.ID(), TxID: txid, Batch: "batch-1", Vout: &vout, Broadcast: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := recs.PutSettlement(m.ID(), b); err != nil {
			t.Fatal(err)
		}
	}
	pass := func(want int64) {
		t.Helper()
		for _, m := range reqs {
			got, ok, err := track(ctx, m)
			if err != nil || !ok || got.TxID != txid || got.Confirmations != want || got.Batch != "batch-1" {
				t.Fatalf("member %.12s: %+v %v %v, want %d confirmation(s) of %s", m.ID(), got, ok, err, want, txid)
			}
		}
	}
	chain.set(1)
	recs.take()
	pass(1)
	if asked, writes := chain.set(1), recs.take(); asked != 1 || writes != members {
		t.Errorf("first pass: %d questions to the bitcoin node and %d record writes, want 1 and %d", asked, writes, members)
	}
	now = now.Add(5 * time.Second) // the next tick: nothing changed on chain
	pass(1)
	if asked, writes := chain.set(2), recs.take(); asked != 1 || writes != 0 {
		t.Errorf("unchanged pass: %d questions and %d record writes, want 1 and 0", asked, writes)
	}
	now = now.Add(5 * time.Second) // one more block
	pass(2)
	if asked, writes := chain.set(2), recs.take(); asked != 1 || writes != members {
		t.Errorf("pass after a block: %d questions and %d record writes, want 1 and %d", asked, writes, members)
	}
}
