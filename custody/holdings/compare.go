package holdings

import (
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
)

// NodeView is one node's own holdings view at one time: the chain heads it
// read and its leaves (GET /v1/holdings/view).
type NodeView struct {
	Party  string      `json:"party"`
	Chains []ChainHead `json:"chains"`
	Root   HexHash     `json:"root"`
	// Leaves are the view's leaves; omitted (Count set instead) when a
	// view is too large to send whole.
	Leaves []Leaf `json:"leaves,omitempty"`
	Count  uint64 `json:"count,omitempty"`
	// Audit is the node's audit chain head, read with the view at a
	// reconciliation (CompareAudit); nil elsewhere.
	Audit *AuditHead `json:"audit,omitempty"`
}

// ViewOf builds a node's view from what View.Read returned.
func ViewOf(party string, leaves []Leaf, heads []ChainHead) (NodeView, error) {
	t, err := Build(leaves)
	if err != nil {
		return NodeView{}, err
	}
	return NodeView{Party: party, Chains: heads, Root: t.Root(), Leaves: t.Leaves()}, nil
}

// Difference names a node whose view differs from the others' and how.
type Difference struct {
	Party string `json:"party"`
	// What differs: "chain" (other heads: it reads another block), "leaf"
	// (the same heads, another amount of Account/Asset, or a leaf the
	// others lack or have), "root" (the leaves it sent do not give its root),
	// "audit" (its audit chain: CompareAudit, with Detail).
	What    string `json:"what"`
	Account string `json:"account,omitempty"`
	Asset   string `json:"asset,omitempty"`
	// Got is this node's amount, Want the others' ("" for no leaf).
	Got    string `json:"got,omitempty"`
	Want   string `json:"want,omitempty"`
	Detail string `json:"detail,omitempty"`
}

func (d Difference) String() string {
	if d.What == "leaf" {
		return fmt.Sprintf("%s: %s/%s is %q here, %q at the others", d.Party, d.Account, d.Asset, d.Got, d.Want)
	}
	if d.Detail != "" {
		return fmt.Sprintf("%s: %s differs: %s", d.Party, d.What, d.Detail)
	}
	return fmt.Sprintf("%s: %s differs", d.Party, d.What)
}

// Compare reconciles the nodes' holdings views: a node whose leaves do not
// give its own root is named ("root"); then the views are grouped by
// (chain heads, root), and every node outside the group of a strict
// majority is named, with its heads ("chain") or each leaf that differs
// from the majority's ("leaf"). Without a majority every node is named
// ("no_majority"): no view can be trusted over another. An empty result
// means all views agree.
func Compare(views []NodeView) []Difference {
	var diffs []Difference
	for _, v := range views {
		if len(v.Leaves) == 0 && v.Count > 0 {
			continue // sent without its leaves: its root is taken as sent
		}
		if t, err := Build(v.Leaves); err != nil || HexHash(t.Root()) != v.Root {
			diffs = append(diffs, Difference{Party: v.Party, What: "root"})
		}
	}
	var major *NodeView
	for i := range views {
		n := 0
		for j := range views {
			if same(views[i], views[j]) {
				n++
			}
		}
		if 2*n > len(views) {
			major = &views[i]
			break
		}
	}
	for _, v := range views {
		switch {
		case major == nil:
			diffs = append(diffs, Difference{Party: v.Party, What: "no_majority"})
		case same(v, *major):
		case !slices.Equal(v.Chains, major.Chains):
			diffs = append(diffs, Difference{Party: v.Party, What: "chain"})
		case len(v.Leaves) == 0 && v.Count > 0 || len(major.Leaves) == 0 && major.Count > 0:
			diffs = append(diffs, Difference{Party: v.Party, What: "root"}) // no leaves to tell which
		default:
			diffs = append(diffs, leafDiffs(v, *major)...)
		}
	}
	return diffs
}

// same reports whether two views have the same heads and root.
func same(a, b NodeView) bool { return slices.Equal(a.Chains, b.Chains) && a.Root == b.Root }

func leafDiffs(v, ref NodeView) []Difference {
	amounts := func(ls []Leaf) map[[2]string]*big.Int {
		m := map[[2]string]*big.Int{}
		for _, l := range ls {
			m[[2]string{l.Account, l.Asset}] = l.Amount
		}
		return m
	}
	mine, theirs := amounts(v.Leaves), amounts(ref.Leaves)
	keys := map[[2]string]bool{}
	for k := range mine {
		keys[k] = true
	}
	for k := range theirs {
		keys[k] = true
	}
	var out []Difference
	for k := range keys {
		a, b := mine[k], theirs[k]
		if a != nil && b != nil && a.Cmp(b) == 0 {
			continue
		}
		out = append(out, Difference{Party: v.Party, What: "leaf", Account: k[0], Asset: k[1], Got: str(a), Want: str(b)})
	}
	sort.Slice(out, func(i, j int) bool {
		return strings.Compare(out[i].Account+"/"+out[i].Asset, out[j].Account+"/"+out[j].Asset) < 0
	})
	return out
}

func str(a *big.Int) string {
	if a == nil {
		return ""
	}
	return a.String()
}
