package settle

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/service"
)

// BatchPlan is a liquidation batch's transaction as this node builds it
// from the members it stores, with their plans, in the batch's order:
//
//   - inputs: each member's coins, in member order, each locked to its
//     member's account key (which this node derives from its own share);
//   - outputs: first one payment per member (member i's at output i) to
//     the liquidation address this node's policy allows for its account,
//     then one change output per member back to its own account address
//     (left out, and added to its fee, when it would be dust);
//   - each member pays its own fee share at its own fee rate for its own
//     inputs and outputs; the first also pays the transaction's overhead.
//     No share may exceed max_fee, nor the whole fee max_fee_rate over the
//     transaction's size.
type BatchPlan struct {
	Tx       *wire.MsgTx
	Prevouts []btc.UTXO           // per input, in order
	Keys     []*btcec.PublicKey   // per input: the key it is locked to
	Inputs   []service.BatchInput // per input: digest, key ID and child path
	Shares   []int64              // per member: its fee share
	Fee      int64
}

// PlanBatch builds the batch transaction of members (liquidations, each
// with its plan). Every member must also be payable alone (Plan): the
// same checks of account, key, destination, fee rate and coins apply.
func (s *Settler) PlanBatch(ctx context.Context, members []custody.Request) (*BatchPlan, error) {
	plans, nIn, err := s.memberPlans(ctx, members)
	if err != nil {
		return nil, err
	}
	bp := &BatchPlan{Tx: wire.NewMsgTx(btc.TxVersion), Shares: make([]int64, len(members))}
	pays := make([]*wire.TxOut, len(members))
	changes := make([]*wire.TxOut, len(members))
	nOut := 2 * len(members) // at most; the count's size is one byte either way (MaxBatchMembers)
	for i, p := range plans {
		for _, in := range p.Spend.Inputs {
			txIn := wire.NewTxIn(&in.OutPoint, nil, nil)
			txIn.Sequence = btc.InputSequence
			bp.Tx.AddTxIn(txIn)
			bp.Prevouts = append(bp.Prevouts, in)
			bp.Keys = append(bp.Keys, p.Key)
		}
		overhead := int64(0)
		if i == 0 {
			overhead = btc.OverheadWeight(nIn, nOut)
		}
		if pays[i], changes[i], bp.Shares[i], err = s.memberOutputs(members[i], p, overhead); err != nil {
			return nil, err
		}
		bp.Fee += bp.Shares[i]
	}
	for _, o := range pays {
		bp.Tx.AddTxOut(o)
	}
	for _, o := range changes {
		if o != nil {
			bp.Tx.AddTxOut(o)
		}
	}
	if err := s.checkBatchTx(bp); err != nil {
		return nil, err
	}
	digests, err := btc.SigHashes(bp.Tx, bp.Prevouts)
	if err != nil {
		return nil, err
	}
	k := 0
	for i, p := range plans {
		for range p.Spend.Inputs {
			bp.Inputs = append(bp.Inputs, service.BatchInput{Digest: digests[k], KeyID: members[i].KeyID, ChildPath: members[i].ChildPath})
			k++
		}
	}
	return bp, nil
}

// memberPlans plans each member alone (Plan's checks) and counts the
// batch's inputs.
func (s *Settler) memberPlans(ctx context.Context, members []custody.Request) ([]*Plan, int, error) {
	if len(members) == 0 || len(members) > custody.MaxBatchMembers {
		return nil, 0, fmt.Errorf("batch: %w: %d members, want 1..%d", ErrPolicy, len(members), custody.MaxBatchMembers)
	}
	plans := make([]*Plan, len(members))
	nIn := 0
	for i, m := range members {
		if m.Kind != custody.KindLiquidation {
			return nil, 0, fmt.Errorf("batch member %.12s: %w: %s is not a liquidation", m.ID(), ErrPolicy, m.Kind)
		}
		p, err := s.plan(ctx, m)
		if err != nil {
			return nil, 0, fmt.Errorf("batch member %.12s: %w", m.ID(), err)
		}
		plans[i] = p
		nIn += len(p.Spend.Inputs)
	}
	return plans, nIn, nil
}

// memberOutputs is member m's payment, its change (nil when dust, which
// then goes to its fee) and its fee share: its own inputs and outputs at
// its own fee rate, plus overhead weight (the first member's).
func (s *Settler) memberOutputs(m custody.Request, p *Plan, overhead int64) (pay, change *wire.TxOut, share int64, err error) {
	dest, err := btc.DecodeAddress(m.Destination, s.cfg.Network)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("batch member %.12s: %w", m.ID(), err)
	}
	if int64(m.Amount) < btc.DustThreshold(dest) {
		return nil, nil, 0, fmt.Errorf("batch member %.12s: %w: %d sat", m.ID(), btc.ErrDust, m.Amount)
	}
	script, err := btc.P2WPKHScript(p.Key)
	if err != nil {
		return nil, nil, 0, err
	}
	var in int64
	for _, u := range p.Spend.Inputs {
		in += u.Value
	}
	weight := int64(len(p.Spend.Inputs))*btc.InputWeight + btc.OutputWeight(dest) + overhead
	rate := int64(m.FeeRate)
	bare := rate * ((weight + 3) / 4)
	withChange := rate * ((weight + btc.OutputWeight(script) + 3) / 4)
	switch left := in - int64(m.Amount) - withChange; {
	case left >= btc.DustThreshold(script):
		change, share = wire.NewTxOut(left, script), withChange
	case in-int64(m.Amount) >= bare:
		share = in - int64(m.Amount)
	default:
		return nil, nil, 0, fmt.Errorf("batch member %.12s: %w: inputs %d < amount %d + fee share %d", m.ID(), btc.ErrInsufficientFunds, in, m.Amount, bare)
	}
	if uint64(share) > s.cfg.Policy.FeeCap() {
		return nil, nil, 0, fmt.Errorf("batch member %.12s: %w: fee share %d sat over this node's max_fee %d", m.ID(), ErrPolicy, share, s.cfg.Policy.FeeCap())
	}
	return wire.NewTxOut(int64(m.Amount), dest), change, share, nil
}

// checkBatchTx holds the built transaction to the standard limits and
// the policy's fee rate ceiling, and reads its fee back.
func (s *Settler) checkBatchTx(bp *BatchPlan) error {
	vsize := btc.EstimateVSize(bp.Tx)
	switch {
	case len(bp.Tx.TxOut) > btc.MaxOutputs || len(bp.Tx.TxIn) > btc.MaxInputs || btc.EstimateWeight(bp.Tx) > btc.MaxStandardWeight:
		return fmt.Errorf("batch: %w: %d inputs, %d outputs", btc.ErrTooLarge, len(bp.Tx.TxIn), len(bp.Tx.TxOut))
	case uint64(bp.Fee) > s.cfg.Policy.MaxFeeRate*uint64(vsize):
		return fmt.Errorf("batch: %w: fee %d sat over max_fee_rate %d × %d vB", ErrPolicy, bp.Fee, s.cfg.Policy.MaxFeeRate, vsize)
	}
	if fee, err := btc.Fee(bp.Tx, bp.Prevouts); err != nil || fee != bp.Fee { // the build is its own first reader
		return fmt.Errorf("batch: fee %d, shares %d: %w", fee, bp.Fee, err)
	}
	return nil
}

// batchPlans remembers the last few batches' plans by batch ID. A batch's
// ID is the hash of its document, which fixes its members (stored
// requests, named by the hash of their content) and each one's coins; the
// plan is built from them, this node's policy and its keys alone. So
// every input's session, and every member's result, of one batch reuse
// one build instead of rebuilding the whole batch each time.
type batchPlans struct {
	mu   sync.Mutex
	m    map[string]*BatchPlan
	fifo []string
}

const batchPlansKept = 16

// planBatch is PlanBatch of batch id, built once (failures are not kept).
// The plan it returns is shared: callers do not modify it.
func (s *Settler) planBatch(ctx context.Context, id string, members []custody.Request) (*BatchPlan, error) {
	c := &s.plans
	c.mu.Lock()
	bp, ok := c.m[id]
	c.mu.Unlock()
	if ok {
		return bp, nil
	}
	bp, err := s.PlanBatch(ctx, members)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*BatchPlan{}
	}
	if _, ok := c.m[id]; !ok {
		c.m[id] = bp
		c.fifo = append(c.fifo, id)
		if len(c.fifo) > batchPlansKept {
			delete(c.m, c.fifo[0])
			c.fifo = c.fifo[1:]
		}
	}
	return bp, nil
}

// BatchDigests implements service.Batcher.
func (s *Settler) BatchDigests(ctx context.Context, id string, members []custody.Request) ([]service.BatchInput, error) {
	bp, err := s.planBatch(ctx, id, members)
	if err != nil {
		return nil, err
	}
	return bp.Inputs, nil
}

// SettleBatch implements service.Batcher: it finalizes the batch (script
// engine), records for every member the batch's txid, its own output
// index and its fee share, and, with broadcast on a node that
// broadcasts, sends the transaction once (a transaction the Bitcoin node
// knows already is not sent again).
func (s *Settler) SettleBatch(ctx context.Context, id string, members []custody.Request, sigs []service.Signature, broadcast bool) error {
	s.batchMu.Lock()
	defer s.batchMu.Unlock()
	bp, err := s.planBatch(ctx, id, members)
	if err != nil {
		return err
	}
	if s.batchRecorded(id, bp.Tx.TxHash().String(), members, broadcast && s.cfg.Broadcast) {
		return nil // every member's result runs this; the batch is one transaction
	}
	tx, err := btc.FinalizeEach(bp.Tx, bp.Prevouts, bp.Keys, sigs)
	if err != nil {
		return fmt.Errorf("finalizing batch %.12s: %w: %w", id, ErrSignatures, err)
	}
	var raw bytes.Buffer
	if err := tx.Serialize(&raw); err != nil {
		return err
	}
	txid := tx.TxHash()
	recs := make([]Record, len(members))
	for i, m := range members {
		vout := uint32(i)
		recs[i] = Record{RequestID: m.ID(), TxID: txid.String(), Raw: hex.EncodeToString(raw.Bytes()), Fee: bp.Shares[i], Vout: &vout, Batch: id}
		if prev, ok, _ := s.Record(m.ID()); ok && prev.TxID == recs[i].TxID {
			recs[i].Broadcast, recs[i].Confirmations = prev.Broadcast, prev.Confirmations
		}
	}
	var sendErr error
	if broadcast && s.cfg.Broadcast {
		n, err := s.send(ctx, tx)
		for i := range recs {
			if err != nil {
				recs[i].Error = err.Error()
			} else {
				recs[i].Broadcast, recs[i].Confirmations = true, n
			}
		}
		sendErr = err
	}
	for _, r := range recs {
		if err := s.putRecord(r); err != nil {
			return err
		}
	}
	s.log.Info("liquidation batch finalised", "batch", short(id), "txid", txid.String(), "members", len(members), "fee", bp.Fee, "broadcast", broadcast && s.cfg.Broadcast && sendErr == nil)
	if sendErr != nil {
		return fmt.Errorf("settling batch %.12s: %w", id, sendErr)
	}
	return nil
}

// batchRecorded reports whether every member already records batch id's
// transaction txid (broadcast, when sent is asked for).
func (s *Settler) batchRecorded(id, txid string, members []custody.Request, sent bool) bool {
	for _, m := range members {
		rec, ok, err := s.Record(m.ID())
		if err != nil || !ok || rec.Batch != id || rec.TxID != txid || (sent && !rec.Broadcast) {
			return false
		}
	}
	return true
}

// refreshBatch asks this node's Bitcoin node about a batch member's
// recorded transaction (the batch's txid) and records the answer when it
// changed. Every member of a batch has the same transaction: its
// confirmations are asked once per tracking pass (txConfirmations), not
// once per member, and a member whose record already says so is not
// written again — a storm's 50-member batches were 50 RPCs and 50 store
// writes per batch at every tick.
func (s *Settler) refreshBatch(ctx context.Context, rec Record) (Record, error) {
	h, err := chainHash(rec.TxID)
	if err != nil {
		return rec, err
	}
	n, err := s.txConfirmations(ctx, h)
	if err != nil {
		return rec, fmt.Errorf("tracking %.12s in batch %.12s: %w", rec.RequestID, rec.Batch, err)
	}
	if rec.Confirmations == n && rec.Error == "" {
		return rec, nil
	}
	rec.Confirmations, rec.Error = n, ""
	return rec, s.putRecord(rec)
}

// trackReuse is how long an answer about a batch's transaction stands
// for its other members: one tracking pass over them (the service asks
// about every followed request at each tick, seconds apart).
const trackReuse = time.Second

// confMemo is the last answers about batch transactions, by txid.
type confMemo struct {
	mu sync.Mutex
	m  map[chainhash.Hash]confAnswer
}

type confAnswer struct {
	n  int64
	at time.Time
}

// txConfirmations is txid's confirmations in this node's Bitcoin node,
// asked at most once per trackReuse (errors are not kept).
func (s *Settler) txConfirmations(ctx context.Context, txid *chainhash.Hash) (int64, error) {
	now := s.cfg.Now()
	c := &s.confs
	c.mu.Lock()
	if a, ok := c.m[*txid]; ok && now.Sub(a.at) < trackReuse && !now.Before(a.at) {
		c.mu.Unlock()
		return a.n, nil
	}
	c.mu.Unlock()
	n, err := s.cfg.Chain.Confirmations(ctx, txid)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[chainhash.Hash]confAnswer{}
	}
	for h, a := range c.m {
		if now.Sub(a.at) >= trackReuse {
			delete(c.m, h)
		}
	}
	c.m[*txid] = confAnswer{n: n, at: now}
	return n, nil
}

var _ service.Batcher = (*Settler)(nil)
