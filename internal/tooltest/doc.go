// Package tooltest finds the pinned external programs the end-to-end test
// helpers run (btcdtest's btcd, gethtest's geth, ...) in the tools cache
// ${TRIAD_TOOLS_DIR:-$HOME/.cache/triad-tools} that scripts/test.sh fills,
// and decides what a missing one means: skip the test, or fail it when
// TRIAD_REQUIRE_TOOLS=1 (CI).
//
//	bin, err := tooltest.Find("TRIAD_GETH_BIN", "geth-v1.17.10", "geth", "scripts/install-geth.sh")
//	if err != nil {
//		tooltest.Missing(t, "gethtest", err)
//	}
package tooltest
