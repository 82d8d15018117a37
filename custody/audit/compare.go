package audit

import "fmt"

// Relation says how a peer's view of a chain relates to the local one.
type Relation string

// Relations.
const (
	InSync     Relation = "in_sync"     // same head
	PeerBehind Relation = "peer_behind" // peer's head is a record of ours: it lacks later records
	PeerAhead  Relation = "peer_ahead"  // peer claims records we do not have
	Forked     Relation = "forked"      // peer's head contradicts our record at that seq
)

// Divergence is the outcome of comparing heads.
type Divergence struct {
	Relation Relation
	Local    Head
	Peer     Head
	Detail   string
}

func (d Divergence) String() string {
	return fmt.Sprintf("%s (local %d/%.12s, peer %d/%.12s): %s", d.Relation, d.Local.Seq, d.Local.Hash, d.Peer.Seq, d.Peer.Hash, d.Detail)
}

// Compare relates two heads of what should be the same chain, knowing only
// the heads. recordAt, if not nil, returns the local record at a seq; with
// it a shorter peer head is checked against our record at that seq.
func Compare(local, peer Head, recordAt func(seq uint64) (Record, bool)) Divergence {
	d := Divergence{Local: local, Peer: peer}
	switch {
	case local == peer:
		d.Relation, d.Detail = InSync, "same head"
	case peer.Seq == local.Seq:
		d.Relation, d.Detail = Forked, fmt.Sprintf("different hashes at seq %d", peer.Seq)
	case peer.Seq > local.Seq:
		d.Relation, d.Detail = PeerAhead, fmt.Sprintf("peer has %d records we lack (or a fork)", peer.Seq-local.Seq)
	case peer.Seq == 0:
		d.Relation, d.Detail = PeerBehind, "peer has no records"
		if peer.Hash != Genesis {
			d.Relation, d.Detail = Forked, "peer's empty chain has a non-genesis hash"
		}
	case recordAt == nil:
		d.Relation, d.Detail = PeerBehind, fmt.Sprintf("peer lacks %d records (not checked against our record %d)", local.Seq-peer.Seq, peer.Seq)
	default:
		r, ok := recordAt(peer.Seq)
		switch {
		case !ok:
			d.Relation, d.Detail = Forked, fmt.Sprintf("our record %d is missing", peer.Seq)
		case r.Hash != peer.Hash:
			d.Relation, d.Detail = Forked, fmt.Sprintf("peer's head differs from our record %d", peer.Seq)
		default:
			d.Relation, d.Detail = PeerBehind, fmt.Sprintf("peer lacks our records %d..%d", peer.Seq+1, local.Seq)
		}
	}
	return d
}
