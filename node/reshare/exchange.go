package reshare

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/triad-custody/triad/tss"
)

// The commit exchange's messages and what a node collects of them: every
// node's confirmation (the public view of its new share) and every other
// node's echo of the confirmations it received. commit.go decides on them.

// App topics of the commit exchange.
const (
	TopicConfirm = "triad.reshare.confirm"
	TopicEcho    = "triad.reshare.echo"
)

// Confirm is a node's confirmation: the public view of its new share.
type Confirm struct {
	SessionID tss.SessionID `json:"session_id"`
	View      string        `json:"view"`
}

// Echo repeats every confirmation a node received, by node.
type Echo struct {
	SessionID tss.SessionID     `json:"session_id"`
	Views     map[string]string `json:"views"`
}

// exchange collects one reshare's confirmations and echoes.
type exchange struct {
	parties  []string
	mu       sync.Mutex
	confirms map[string]string            // node → view (hex)
	echoes   map[string]map[string]string // echoer → node → view
	conflict string                       // first equivocation seen
	changed  chan struct{}
}

func (st *state) openExchange(sid tss.SessionID, parties []string) *exchange {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := &exchange{parties: parties, confirms: map[string]string{}, echoes: map[string]map[string]string{}, changed: make(chan struct{}, 1)}
	st.commits[sid] = c
	return c
}

func (st *state) closeExchange(sid tss.SessionID) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.commits, sid)
}

func (st *state) lookup(sid tss.SessionID) *exchange {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.commits[sid]
}

func (c *exchange) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (st *state) onConfirm(n Node, from string, b []byte) {
	var m Confirm
	if json.Unmarshal(b, &m) != nil || len(m.View) != 64 {
		n.Count("reshare_bad_confirm")
		return
	}
	c := st.lookup(m.SessionID)
	if c == nil || !slices.Contains(c.parties, from) {
		n.Count("reshare_stray_confirm")
		return
	}
	c.mu.Lock()
	if prev, ok := c.confirms[from]; ok && prev != m.View && c.conflict == "" {
		c.conflict = fmt.Sprintf("%s sent two different confirmations", from)
	} else if !ok {
		c.confirms[from] = m.View
	}
	c.mu.Unlock()
	c.signal()
}

func (st *state) onEcho(n Node, from string, b []byte) {
	var m Echo
	if json.Unmarshal(b, &m) != nil || len(m.Views) > 8 {
		n.Count("reshare_bad_echo")
		return
	}
	c := st.lookup(m.SessionID)
	if c == nil || !slices.Contains(c.parties, from) {
		n.Count("reshare_stray_echo")
		return
	}
	c.mu.Lock()
	if _, ok := c.echoes[from]; ok {
		c.mu.Unlock()
		return // one echo per node: a second is ignored
	}
	c.echoes[from] = m.Views
	c.mu.Unlock()
	c.signal()
}

// check returns why the confirmations disagree with view, or "".
func (c *exchange) check(view string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conflict != "" {
		return c.conflict
	}
	for _, p := range c.parties {
		if c.confirms[p] != view {
			return fmt.Sprintf("%s confirmed a different share view", p)
		}
	}
	for echoer, views := range c.echoes {
		for _, p := range c.parties {
			if views[p] != view {
				return fmt.Sprintf("%s saw a different confirmation from %s (equivocation)", echoer, p)
			}
		}
	}
	return ""
}
