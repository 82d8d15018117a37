package holdings

import (
	"fmt"
	"math/big"
	"testing"
)

// Issue 13, reconciliation: one holding changed in one node's view, or
// one node reading another block, names that node (and the leaf); a view
// whose leaves do not give its root is named too.
func TestCompareNamesTheNodeThatDiffers(t *testing.T) {
	head := []ChainHead{testHead()}
	view := func(party string, mut func([]Leaf) []Leaf, heads []ChainHead) NodeView {
		ls := genLeaves(20)
		if mut != nil {
			ls = mut(ls)
		}
		v, err := ViewOf(party, ls, heads)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	agree := []NodeView{view("custodian", nil, head), view("exchange", nil, head), view("regulator", nil, head)}
	if d := Compare(agree); len(d) != 0 {
		t.Fatalf("agreeing views: %v", d)
	}
	changed := func(ls []Leaf) []Leaf { ls[4].Amount = new(big.Int).Add(ls[4].Amount, big.NewInt(1)); return ls }
	d := Compare([]NodeView{view("custodian", nil, head), view("exchange", changed, head), view("regulator", nil, head)})
	if len(d) != 1 || d[0].Party != "exchange" || d[0].What != "leaf" || d[0].Account != "acct-000003" || d[0].Got != "1004" || d[0].Want != "1003" {
		t.Fatalf("one holding changed at the exchange: %v", d)
	}
	dropped := func(ls []Leaf) []Leaf { return ls[1:] }
	d = Compare([]NodeView{view("custodian", dropped, head), view("exchange", nil, head), view("regulator", nil, head)})
	if len(d) != 1 || d[0].Party != "custodian" || d[0].Got != "" || d[0].Want != "1000" {
		t.Fatalf("a leaf missing at the custodian: %v", d)
	}
	other := []ChainHead{{Chain: "bitcoin/regtest", Height: 102, Block: fmt.Sprintf("%064x", 102)}}
	d = Compare([]NodeView{view("custodian", nil, head), view("exchange", nil, head), view("regulator", nil, other)})
	if len(d) != 1 || d[0].Party != "regulator" || d[0].What != "chain" {
		t.Fatalf("the regulator at another block: %v", d)
	}
	lying := view("exchange", nil, head)
	lying.Root[0] ^= 1
	d = Compare([]NodeView{view("custodian", nil, head), lying, view("regulator", nil, head)})
	if len(d) != 1 || d[0].Party != "exchange" || d[0].What != "root" {
		t.Fatalf("a root its leaves do not give: %v", d)
	}
	d = Compare([]NodeView{view("custodian", nil, head), view("exchange", changed, head), view("regulator", nil, other)})
	if len(d) != 3 || d[0].What != "no_majority" {
		t.Fatalf("three different views: %v", d)
	}
}
