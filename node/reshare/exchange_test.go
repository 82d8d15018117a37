package reshare

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/triad-custody/triad/tss"
)

// countingNode is the little of a node the commit exchange's handlers
// touch: its event counts (any other method of Node panics).
type countingNode struct {
	Node
	mu     sync.Mutex
	counts map[string]int
}

func (n *countingNode) Count(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.counts == nil {
		n.counts = map[string]int{}
	}
	n.counts[name]++
}

// The commit exchange on one node: a confirmation for no open reshare is
// stray, a second different confirmation from one node is an
// equivocation, and an echo that saw another view aborts the commit.
func TestCommitExchange(t *testing.T) {
	n := &countingNode{}
	st := &state{commits: map[tss.SessionID]*exchange{}}
	parties := []string{"custodian", "exchange", "regulator"}
	var sid tss.SessionID
	sid[0] = 1
	view, other := strings.Repeat("a", 64), strings.Repeat("b", 64)
	confirm := func(from, v string) {
		b, _ := json.Marshal(Confirm{SessionID: sid, View: v})
		st.onConfirm(n, from, b)
	}
	echo := func(from string, views map[string]string) {
		b, _ := json.Marshal(Echo{SessionID: sid, Views: views})
		st.onEcho(n, from, b)
	}

	confirm("exchange", view)
	if n.counts["reshare_stray_confirm"] != 1 {
		t.Fatalf("confirmation for no open reshare: counts %v", n.counts)
	}
	c := st.openExchange(sid, parties)
	for _, p := range parties {
		confirm(p, view)
	}
	agree := map[string]string{"custodian": view, "exchange": view, "regulator": view}
	echo("exchange", agree)
	echo("regulator", agree)
	if why := c.check(view); why != "" {
		t.Fatalf("agreeing confirmations and echoes: %s", why)
	}

	c = st.openExchange(sid, parties)
	for _, p := range parties {
		confirm(p, view)
	}
	echo("exchange", agree)
	echo("regulator", map[string]string{"custodian": view, "exchange": other, "regulator": view})
	echo("regulator", agree) // a second echo is ignored
	if why := c.check(view); !strings.Contains(why, "regulator saw a different confirmation from exchange") {
		t.Fatalf("echo of another view: %q", why)
	}

	c = st.openExchange(sid, parties)
	confirm("exchange", view)
	confirm("exchange", other)
	if why := c.check(view); why != "exchange sent two different confirmations" {
		t.Fatalf("two confirmations from one node: %q", why)
	}
	confirm("exchange", "short")
	if n.counts["reshare_bad_confirm"] != 1 {
		t.Fatalf("malformed confirmation: counts %v", n.counts)
	}
}
