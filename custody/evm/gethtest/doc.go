// Package gethtest runs a throwaway `geth --dev` chain for tests: a child
// process with HTTP JSON-RPC on a loopback port the OS picks (port 0; the
// port is read from geth's log), no IPC, no P2P, a temporary data
// directory, and cleanup when the test ends. The dev account is funded and
// unlocked; it deploys the test token (TestToken.sol, compiled into the
// committed TestToken.json by scripts/compile-token.sh) and funds accounts.
//
//	chain := gethtest.Start(t)
//	token := chain.DeployToken(t, "Test USD", "TUSD", 6)
//	chain.Mint(t, token, addr, big.NewInt(5_000_000))
//	chain.Fund(t, addr, gethtest.Ether(1))
//	rc := chain.WaitReceipt(t, hash)
//
// The geth binary is found by Binary. When it is missing the test is
// skipped, unless TRIAD_REQUIRE_TOOLS=1, in which case it fails. Install it
// with scripts/install-geth.sh.
package gethtest
