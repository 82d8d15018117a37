package main

import (
	"testing"

	"github.com/triad-custody/triad/node"
)

// ../shared/SECURITY.md scenario 35 in `triad status`: each peer's line says the version spoken
// to it and the peer's range, that no hello came (a version-1 peer), or
// the refusal naming both sides' versions.
func TestStatusProtocolLine(t *testing.T) {
	for _, tc := range []struct {
		v    node.PeerVersions
		want string
	}{
		{node.PeerVersions{Known: true, Min: 1, Max: 2, Speaks: 2}, "protocol 2 (it speaks 1..2)"},
		{node.PeerVersions{Known: true, Min: 2, Max: 2, Speaks: 2}, "protocol 2 (it speaks 2)"},
		{node.PeerVersions{Speaks: 1}, "protocol 1 (no hello from it yet: a version-1 peer never says one)"},
		{node.PeerVersions{Known: true, Min: 3, Max: 4, Refused: "exchange speaks protocol version 3..4, this node 1..2"},
			"protocol REFUSED: exchange speaks protocol version 3..4, this node 1..2"},
	} {
		if got := protocolLine(tc.v); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.v, got, tc.want)
		}
	}
}
