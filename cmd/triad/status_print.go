package main

import (
	"fmt"
	"io"
	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/node"
)

func printStatus(out io.Writer, st api.Status) {
	ready := "ready"
	if !st.Ready {
		ready = "NOT READY: " + st.NotReady
	}
	fmt.Fprintf(out, "party      %s (%s)\nhsm        %s\npeer id    %s\nprotocol   %s\n", st.Party, ready, st.HSM, st.PeerID,
		versionSpan(st.Protocol.Min, st.Protocol.Max))
	for _, p := range st.Peers {
		conn := "connected"
		if !p.Connected {
			conn = "not connected"
		}
		if p.Breaker.Open {
			conn += fmt.Sprintf(", breaker OPEN (%d aborts blamed on it) until %s", p.Breaker.Aborts, p.Breaker.Until.Format(time.RFC3339))
		}
		fmt.Fprintf(out, "peer       %-10s %s, %s\n", p.Party, conn, protocolLine(p.Protocol))
	}
	fmt.Fprintf(out, "keys       %v\npre-params %d ready of %d (%d generating)\n", st.Keys, st.PreParams.Ready, st.PreParams.Target, st.PreParams.Running)
	if len(st.Undecided) > 0 {
		fmt.Fprintf(out, "UNDECIDED  reshare of %v: old share in force, new one pending; run `triad reshare resolve`\n", st.Undecided)
	}
	if len(st.Incidents) > 0 {
		fmt.Fprintf(out, "incidents  %d (latest: %s)\n", len(st.Incidents), st.Incidents[len(st.Incidents)-1].Error)
	}
}

// protocolLine says which protocol version a node speaks to a peer and
// what it knows of the peer's range.
func protocolLine(v node.PeerVersions) string {
	switch {
	case v.Speaks == 0:
		return "protocol REFUSED: " + v.Refused
	case !v.Known:
		return fmt.Sprintf("protocol %d (no hello from it yet: a version-1 peer never says one)", v.Speaks)
	}
	return fmt.Sprintf("protocol %d (it speaks %s)", v.Speaks, versionSpan(v.Min, v.Max))
}

func versionSpan(min, max int) string {
	if min == max {
		return fmt.Sprint(min)
	}
	return fmt.Sprintf("%d..%d", min, max)
}
