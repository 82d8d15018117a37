package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/node"
)

// Where the storm's time goes: a per-batch timeline (queued → cut → lead
// input signed → every input signed, from the coordinator's "liquidation
// batch timeline" log line; broadcast, as first seen in btcd's mempool,
// and confirmed, from the harness's miner), the nodes' CPU time over the
// drain against the machine's cores, and the nodes' counters of failed
// sessions, declines and custody messages dropped by a full work queue.

// batchLine is one coordinator's timeline line of one batch run.
type batchLine struct {
	party, batch             string
	members, inputs          int
	signed                   bool
	queued, cut              time.Time
	toLead, toAll            time.Duration // -1ns: never
	sessions, failedSessions int
	slotWait, inSlot         time.Duration
}

var logKV = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S+)`)

// parseBatchLines reads the timeline lines of one node's log.
func parseBatchLines(party, log string) []batchLine {
	var out []batchLine
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `msg="liquidation batch timeline"`) {
			continue
		}
		kv := map[string]string{}
		for _, m := range logKV.FindAllStringSubmatch(line, -1) {
			kv[m[1]] = strings.Trim(m[2], `"`)
		}
		atoi := func(k string) int { n, _ := strconv.Atoi(kv[k]); return n }
		dur := func(k string) time.Duration { d, _ := time.ParseDuration(kv[k]); return d }
		at := func(k string) time.Time { t, _ := time.Parse(time.RFC3339Nano, kv[k]); return t }
		out = append(out, batchLine{party: party, batch: kv["batch"], members: atoi("members"), inputs: atoi("inputs"),
			signed: kv["signed"] == "true", queued: at("queued"), cut: at("cut"), toLead: dur("to_lead"), toAll: dur("to_all"),
			sessions: atoi("sessions"), failedSessions: atoi("failed_sessions"), slotWait: dur("slot_wait"), inSlot: dur("in_slot")})
	}
	return out
}

// procCPU is a process's user+system CPU time so far (Linux /proc; false
// elsewhere). The clock tick is taken as 100 Hz, Linux's USER_HZ.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state): utime is field 14, stime 15
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+st) * 10 * time.Millisecond, true
}

// nodesCPU is every node's CPU time so far.
func (c *stormCluster) nodesCPU() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, p := range node.DefaultParties {
		if d, ok := procCPU(c.started[p].cmd.Process.Pid); ok {
			out[p] = d
		}
	}
	return out
}

// counterLine picks, from a node's /metrics, the counters that say why
// sessions failed or messages were lost.
var counterLine = regexp.MustCompile(`^(triad_custody_peer_messages_total\{[^}]*dropped[^}]*\}|triad_custody_sign_failures_total|triad_custody_signatures_total|triad_custody_sign_authorizations_total\{[^}]*\}|triad_node_events_total\{[^}]*\}) (\S+)$`)

// nodeCounters scrapes each node's /metrics for counterLine's counters
// (non-zero ones), "party: name value" sorted.
func (c *stormCluster) nodeCounters(ctx context.Context, t testing.TB) []string {
	var out []string
	for _, p := range node.DefaultParties {
		resp, err := c.apiClient(t, p, "admin", 1).Send(ctx, "GET", "/metrics", nil)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: /metrics: %v", p, err))
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		for _, l := range strings.Split(string(b), "\n") {
			if m := counterLine.FindStringSubmatch(l); m != nil && m[2] != "0" {
				out = append(out, fmt.Sprintf("%s: %s %s", p, m[1], m[2]))
			}
		}
	}
	sort.Strings(out)
	return out
}

// timeline is the report's breakdown of where the drain went.
func (r *stormReport) timeline() string {
	var b strings.Builder
	rel := func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return fmt.Sprintf("%.1f", t.Sub(r.start).Seconds())
	}
	plus := func(t time.Time, d time.Duration) time.Time {
		if t.IsZero() || d < 0 {
			return time.Time{}
		}
		return t.Add(d)
	}
	txOf := map[string]string{} // batch ID → txid, from the views
	for _, l := range r.liqs {
		if l.view.Result != nil && l.view.Result.Batch != nil && l.view.Settlement != nil {
			txOf[l.view.Result.Batch.ID] = l.view.Settlement.TxID
		}
	}
	lines := append([]batchLine(nil), r.batches...)
	sort.Slice(lines, func(i, j int) bool { return lines[i].cut.Before(lines[j].cut) })
	fmt.Fprintf(&b, "Per batch run (seconds after the first submission; broadcast = first seen in btcd's mempool):\n\n")
	fmt.Fprintf(&b, "| batch | members / inputs | oldest queued | cut | lead signed | all signed | broadcast | confirmed | sessions (failed) | slot wait / in slot (s) |\n|---|---|---|---|---|---|---|---|---|---|\n")
	var inSlot time.Duration
	for _, bl := range lines {
		inSlot += bl.inSlot
		tx := txOf[bl.batch]
		seen, conf := r.mempoolSeen[tx], r.confirmed[tx]
		if !bl.signed {
			seen, conf = time.Time{}, time.Time{}
		}
		fmt.Fprintf(&b, "| %.12s (%s) | %d / %d | %s | %s | %s | %s | %s | %s | %d (%d) | %.1f / %.1f |\n", bl.batch, bl.party,
			bl.members, bl.inputs, rel(bl.queued), rel(bl.cut), rel(plus(bl.cut, bl.toLead)), rel(plus(bl.cut, bl.toAll)),
			rel(seen), rel(conf), bl.sessions, bl.failedSessions, bl.slotWait.Seconds(), bl.inSlot.Seconds())
	}
	if !r.lastConf.IsZero() {
		d := r.lastConf.Sub(r.start)
		fmt.Fprintf(&b, "\nSigning slots busy %.1f s of %.1f s × 4 slots (%.0f%%).\n", inSlot.Seconds(), d.Seconds(),
			100*inSlot.Seconds()/(4*d.Seconds()))
		var cpu time.Duration
		var parts []string
		for _, p := range node.DefaultParties {
			cpu += r.cpu[p]
			parts = append(parts, fmt.Sprintf("%s %.1f s", p, r.cpu[p].Seconds()))
		}
		fmt.Fprintf(&b, "Node CPU over the drain: %s; %.1f s of %.1f s × %d cores (%.0f%%).\n", strings.Join(parts, ", "),
			cpu.Seconds(), d.Seconds(), runtime.NumCPU(), 100*cpu.Seconds()/(float64(runtime.NumCPU())*d.Seconds()))
		if r.rawCPU > 0 && r.signatures > 0 {
			fmt.Fprintf(&b, "CPU per signature: the nodes %.2f s (all three), raw tss-lib %.2f s (%.1f s CPU in %.1f s wall for %d).\n",
				cpu.Seconds()/float64(r.signatures), r.rawCPU.Seconds()/float64(r.rawSigs), r.rawCPU.Seconds(), r.rawTime.Seconds(), r.rawSigs)
		}
	}
	if len(r.counters) > 0 {
		fmt.Fprintf(&b, "\nNode counters at the drain's end (non-zero):\n\n    %s\n", strings.Join(r.counters, "\n    "))
	}
	return b.String()
}
