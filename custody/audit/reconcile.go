package audit

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// ReconcileOptions narrow what Reconcile compares.
type ReconcileOptions struct {
	// Kinds to compare; empty means SharedKinds. Per-node kinds (status,
	// clock) legitimately differ between nodes.
	Kinds []string
	// Since and Until (zero: unbounded) select records by their time.
	// Nodes' clocks differ: leave a margin at the window's edges.
	Since, Until time.Time
}

// Mismatch is one fact the two nodes do not agree on.
type Mismatch struct {
	Kind      string
	RequestID string
	Party     string
	OnlyA     []string // payload digests only A recorded
	OnlyB     []string // payload digests only B recorded
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s request=%.12s party=%s only-a=%d only-b=%d", m.Kind, m.RequestID, m.Party, len(m.OnlyA), len(m.OnlyB))
}

// Report is the result of a reconciliation.
type Report struct {
	VerifyA, VerifyB error // chain integrity of each side (nil: intact)
	Compared         int   // facts compared
	Mismatches       []Mismatch
}

// OK reports whether both chains are intact and agree.
func (r Report) OK() bool { return r.VerifyA == nil && r.VerifyB == nil && len(r.Mismatches) == 0 }

// Reconcile compares two nodes' records (each a contiguous run of its own
// chain, e.g. since the last reconciliation). It verifies each run, then
// groups the records of the selected kinds by (kind, request, party) and
// reports every payload digest one side has and the other lacks.
func Reconcile(a, b []Record, opts ReconcileOptions) Report {
	kinds := opts.Kinds
	if len(kinds) == 0 {
		kinds = SharedKinds
	}
	rep := Report{VerifyA: verifyRun(a), VerifyB: verifyRun(b)}
	ga, gb := group(a, kinds, opts), group(b, kinds, opts)
	keys := map[groupKey]bool{}
	for k := range ga {
		keys[k] = true
	}
	for k := range gb {
		keys[k] = true
	}
	for k := range keys {
		rep.Compared++
		onlyA, onlyB := diff(ga[k], gb[k])
		if len(onlyA)+len(onlyB) > 0 {
			rep.Mismatches = append(rep.Mismatches, Mismatch{Kind: k.kind, RequestID: k.request, Party: k.party, OnlyA: onlyA, OnlyB: onlyB})
		}
	}
	sort.Slice(rep.Mismatches, func(i, j int) bool {
		x, y := rep.Mismatches[i], rep.Mismatches[j]
		if x.RequestID != y.RequestID {
			return x.RequestID < y.RequestID
		}
		if x.Kind != y.Kind {
			return x.Kind < y.Kind
		}
		return x.Party < y.Party
	})
	return rep
}

func verifyRun(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	if recs[0].Seq == 0 {
		return &VerifyError{Seq: 0, Reason: "seq 0 is not a record"}
	}
	return VerifyFrom(Head{Seq: recs[0].Seq - 1, Hash: recs[0].Prev}, recs)
}

type groupKey struct{ kind, request, party string }

func group(recs []Record, kinds []string, opts ReconcileOptions) map[groupKey][]string {
	out := map[groupKey][]string{}
	for _, r := range recs {
		if !slices.Contains(kinds, r.Kind) {
			continue
		}
		if !opts.Since.IsZero() && r.Time.Before(opts.Since) || !opts.Until.IsZero() && !r.Time.Before(opts.Until) {
			continue
		}
		k := groupKey{r.Kind, r.RequestID, r.Party}
		out[k] = append(out[k], r.Payload)
	}
	return out
}

// diff returns the multiset differences a−b and b−a, sorted.
func diff(a, b []string) (onlyA, onlyB []string) {
	count := map[string]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for x, n := range count {
		for ; n > 0; n-- {
			onlyA = append(onlyA, x)
		}
		for ; n < 0; n++ {
			onlyB = append(onlyB, x)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	return onlyA, onlyB
}
