package memnet_test

import (
	"testing"

	"github.com/triad-custody/triad/node/memnet"
	"github.com/triad-custody/triad/node/p2p"
	"github.com/triad-custody/triad/node/p2p/p2ptest"
)

func TestMemTransportConformance(t *testing.T) {
	net := memnet.New()
	ts := map[string]p2p.Transport{}
	for _, p := range []string{"custodian", "exchange", "regulator"} {
		ts[p] = net.Join(p)
	}
	p2ptest.Conformance(t, ts, func(p string) { ts[p].Close() })
}
