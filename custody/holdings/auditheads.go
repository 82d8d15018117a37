package holdings

import (
	"fmt"

	"github.com/triad-custody/triad/custody/audit"
)

// AuditChain is what a reconciliation reads of a node's own audit chain
// (*audit.Chain): its head, whether it verifies, and one record.
type AuditChain interface {
	Head() (audit.Head, error)
	Verify() error
	Record(seq uint64) (audit.Record, bool, error)
}

// AuditHead is a node's audit chain as the node read it with its holdings
// view at a reconciliation (NodeView.Audit).
type AuditHead struct {
	Head audit.Head `json:"head"`
	// Error: the chain cannot be read or does not verify, by the node's
	// own reading (a record altered, removed or reordered).
	Error string `json:"error,omitempty"`
	// PinnedSeq and PinnedHash are the node's record at the seq of its
	// head that the regulator pinned at the previous reconciliation, when
	// asked: a chain rewritten since no longer has that head.
	PinnedSeq  uint64 `json:"pinned_seq,omitempty"`
	PinnedHash string `json:"pinned_hash,omitempty"`
}

// ReadAuditHead reads c's head, verifies the whole chain and, when pin is
// not 0, reads its record at seq pin.
func ReadAuditHead(c AuditChain, pin uint64) *AuditHead {
	h, err := c.Head()
	if err != nil {
		return &AuditHead{Error: clipTo(err.Error(), maxOutcome)}
	}
	a := &AuditHead{Head: h}
	if err := c.Verify(); err != nil {
		a.Error = clipTo(err.Error(), maxOutcome)
	}
	if pin != 0 && pin <= h.Seq {
		if r, ok, err := c.Record(pin); err == nil && ok {
			a.PinnedSeq, a.PinnedHash = pin, r.Hash
		}
	}
	return a
}

// CompareAudit names each node whose audit chain differs: one that sent
// no head, one whose chain does not verify by its own reading, and one
// whose chain no longer holds the head pinned for it at the previous
// reconciliation (shorter, or another record at that seq: its past was
// rewritten). The three chains are each node's own, so their heads are
// not compared with each other.
func CompareAudit(views []NodeView, pinned map[string]audit.Head) []Difference {
	var out []Difference
	for _, v := range views {
		a, pin := v.Audit, pinned[v.Party]
		var detail string
		switch {
		case a == nil:
			detail = "sent no audit chain head"
		case a.Error != "":
			detail = "its chain does not verify: " + a.Error
		case pin.Seq == 0:
		case a.Head.Seq < pin.Seq:
			detail = fmt.Sprintf("its chain shrank from %d records to %d", pin.Seq, a.Head.Seq)
		case a.PinnedSeq != pin.Seq || a.PinnedHash != pin.Hash:
			detail = fmt.Sprintf("its record %d is no longer the head %.12s it had at the last reconciliation", pin.Seq, pin.Hash)
		}
		if detail != "" {
			out = append(out, Difference{Party: v.Party, What: "audit", Detail: detail})
		}
	}
	return out
}
