package custody_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/triad-custody/triad/custody"
)

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// transition <alias> <party> <event> — drive one node's state machine by
// hand, as the service's signing attempts do (a begin counts against the
// day's cap).
func (h *harness) transition(pos []string) (string, error) {
	if len(pos) != 3 {
		return "", fmt.Errorf("usage: transition <alias> <party> <event>")
	}
	n := h.nodes[custody.Party(pos[1])]
	if n == nil || n.progress[pos[0]] == nil {
		return "", fmt.Errorf("unknown party or request")
	}
	if err := h.apply(n, pos[0], custody.EventType(pos[2]), ""); err != nil {
		return fmt.Sprintf("%s: %v", pos[1], err), nil
	}
	rec := n.progress[pos[0]].Record
	return fmt.Sprintf("%s: %s attempts=%d", pos[1], rec.Status, rec.Attempts), nil
}

// advance <dur> [party...] — real time passes on the named nodes (default
// all): wall and monotonic clocks move, and each node's stopwatch adds the
// lap to its open requests, as the node's ticker would.
// pause <dur> <party...> — real time passes everywhere, but the named nodes
// are down meanwhile and restart: they witness nothing, and their monitor
// and stopwatch start afresh.
func (h *harness) advance(pos []string, pause bool) (string, error) {
	if len(pos) < 1 || pause && len(pos) < 2 {
		return "", fmt.Errorf("usage: advance <dur> [party...] | pause <dur> <party...>")
	}
	d, err := time.ParseDuration(pos[0])
	if err != nil {
		return "", err
	}
	named, err := h.parties(pos[1:])
	if err != nil {
		return "", err
	}
	moved, down := named, map[custody.Party]bool{}
	if pause {
		moved = custody.Parties
		for _, p := range named {
			down[p] = true
		}
	}
	var b strings.Builder
	for _, p := range moved {
		n := h.nodes[p]
		n.clock.Advance(d)
		if down[p] {
			n.watch = custody.NewStopwatch(n.clock)
			n.monitor = custody.NewClockMonitor(n.clock, time.Minute)
			fmt.Fprintf(&b, "%s: down %s, restarted\n", p, d)
		}
		lap := n.watch.Lap()
		for _, prog := range n.progress {
			if !prog.Record.Status.Terminal() {
				prog.Timeline = prog.Timeline.Advance(lap)
			}
		}
	}
	fmt.Fprintf(&b, "%s\n", h.nodes[moved[0]].clock.Now().Format(time.RFC3339))
	return b.String(), nil
}

// jump <party> <±dur> — the wall clock alone jumps; the monitor reports it.
func (h *harness) jump(pos []string) (string, error) {
	if len(pos) != 2 {
		return "", fmt.Errorf("usage: jump <party> <dur>")
	}
	n := h.nodes[custody.Party(pos[0])]
	d, err := time.ParseDuration(strings.TrimPrefix(pos[1], "+"))
	if n == nil || err != nil {
		return "", fmt.Errorf("bad jump %v", pos)
	}
	n.clock.Jump(d)
	return fmt.Sprintf("%s: wall %s; %s", pos[0], n.clock.Now().Format(time.RFC3339), n.monitor.Check()), nil
}

// clocks — each node's monitor report and its skew against the others.
func (h *harness) clocks() string {
	var b strings.Builder
	for _, p := range custody.Parties {
		n := h.nodes[p]
		peers := map[custody.Party]time.Time{}
		for _, q := range custody.Parties {
			if q != p {
				peers[q] = h.nodes[q].clock.Now()
			}
		}
		sk := custody.ComparePeers(n.clock.Now(), peers, time.Minute)
		fmt.Fprintf(&b, "%s: %s; peer skew %s jumped=%v\n", p, n.monitor.Check(), sk.Skew, sk.Jumped)
	}
	return b.String()
}

// status <alias> — each node's record, endorsements and timeline.
func (h *harness) status(pos []string) (string, error) {
	if len(pos) != 1 {
		return "", fmt.Errorf("usage: status <alias>")
	}
	var b strings.Builder
	for _, p := range custody.Parties {
		n := h.nodes[p]
		prog := n.progress[pos[0]]
		if prog == nil {
			return "", fmt.Errorf("unknown request %q", pos[0])
		}
		fmt.Fprintf(&b, "%s: %s attempts=%d approvals=%s vetoes=%s wall=%s witnessed=%s\n", p, prog.Record.Status, prog.Record.Attempts,
			sortedParties(prog.Approvals), sortedParties(prog.Vetoes), n.clock.Now().Sub(prog.Timeline.FirstSeen), prog.Timeline.Witnessed)
	}
	return b.String(), nil
}

// exposure <party> <account> <n|unknown>
func (h *harness) setExposure(pos []string) (string, error) {
	if len(pos) != 3 {
		return "", fmt.Errorf("usage: exposure <party> <account> <n|unknown>")
	}
	n := h.nodes[custody.Party(pos[0])]
	if n == nil {
		return "", fmt.Errorf("unknown party %q", pos[0])
	}
	if pos[2] == "unknown" {
		delete(n.exposure, pos[1])
		return "", nil
	}
	x, err := strconv.ParseUint(pos[2], 10, 64)
	if err != nil {
		return "", err
	}
	n.exposure[pos[1]] = x
	return "", nil
}
