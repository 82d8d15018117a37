// Package btcdtest runs a throwaway btcd regtest node for tests: a child
// process on loopback with free ports, a temporary data directory, an RPC
// client, and cleanup when the test ends.
//
//	node := btcdtest.Start(t, btcdtest.Options{MiningAddr: addr})
//	node.Generate(t, 101)
//	utxos, err := node.Client.ListUnspent(ctx, addr, 1)
//
// The btcd binary is found by Binary. When it is missing the test is skipped,
// unless TRIAD_REQUIRE_TOOLS=1, in which case it fails. Install it with
// scripts/install-btcd.sh.
package btcdtest
