package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/node"
)

// Issue 12 end to end with three `triad node run` processes on a geth
// --dev chain (../shared/SECURITY.md scenarios 8 and 26: every signer rebuilds the
// transaction and checks it on its own EVM node). The harness funds the
// custody account's and the canary account's EVM addresses (as `triad
// address --chain evm` shows them on every node) with the test token and
// gas, then carries through the CLI a collateral release (`triad
// request`, `triad approve`), a liquidation on a signed margin call
// (`triad margin-sim`) and an emergency unfreeze of the canary key
// (`triad drill unfreeze`). The chain is the proof: each transaction's
// receipt succeeded and logs the token's Transfer(from, to, amount), and
// the balances moved by exactly that.
func TestEVMThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, runs two DKGs and starts geth")
	}
	c := startEVMProcs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	acct := c.fundEVM(t, stormKeyID, "m/0/1")
	canary := c.fundEVM(t, "canary-1", "m/0/2")

	// A collateral release of 1250.5 TUSD to the owner, asked by the
	// exchange and approved by both operators.
	const released = 1_250_500_000
	before := c.balances(ctx, t, acct, c.owner)
	start := time.Now()
	out, errOut, code := triad(t, c.bin, "request", "-c", c.cfgs["exchange"], "--quiet", "--kind", "collateral_release",
		"--idempotency-key", "evm-rel-1", "--account", "acct-evm", "--key-id", stormKeyID, "--child-path", "m/0/1",
		"--asset", evmToken, "--destination", c.owner.Hex(), "--amount", fmt.Sprint(released))
	id := strings.TrimSpace(out)
	if code != 0 || len(id) != 64 {
		t.Fatalf("request: %d\n%s%s", code, out, errOut)
	}
	for p, name := range map[string]string{"exchange": "bob", "custodian": "alice"} {
		if out, errOut, code := triad(t, c.bin, "approve", id, "-c", c.cfgs[p], "--party", p, "--operator", name,
			"--operator-key", c.opKeys[p]); code != 0 {
			t.Fatalf("approve at %s: %d\n%s%s", p, code, out, errOut)
		}
	}
	approved := time.Since(start)
	c.waitView(ctx, t, "exchange", id, func(v service.View) bool { return v.Settlement != nil && v.Settlement.TxID != "" })
	broadcast := time.Since(start)
	v := c.waitView(ctx, t, "exchange", id, isDone)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("ERC-20 release end to end: submit → approved by both operators (CLI) %v → broadcast %v → confirmed, done at the exchange %v",
		ms(approved), ms(broadcast), ms(time.Since(start)))
	c.paidOnChain(ctx, t, v.Settlement.TxID, acct, c.owner, released, before)
	c.sameTx(ctx, t, id, v.Settlement.TxID)
	c.operatorView(ctx, t, v, acct, c.owner, "1250.5")

	// A liquidation of 100 TUSD on a margin call the engine signs: an
	// exposure of 15,000.00 against 10,000.00 of TUSD (95%: leverage 1.58).
	const liquidated = 100_000_000
	before = c.balances(ctx, t, acct, c.liq)
	out, errOut, code = triad(t, c.bin, "margin-sim", "-c", c.cfgs["exchange"], "--key", c.engineKey, "--account", "acct-evm",
		"--key-id", stormKeyID, "--child-path", "m/0/1", "--asset", evmToken, "--destination", c.liq.Hex(),
		"--amount", fmt.Sprint(liquidated), "--shortfall", "200000000", "--exposure", "1500000", "--price", "100",
		"--collateral", evmToken+"=1000000", "--idempotency-prefix", "evm-liq")
	f := strings.Fields(out)
	if code != 0 || len(f) < 3 || len(f[1]) != 64 {
		t.Fatalf("margin-sim: %d\n%s%s", code, out, errOut)
	}
	v = c.waitView(ctx, t, "exchange", f[1], isDone)
	c.paidOnChain(ctx, t, v.Settlement.TxID, acct, c.liq, liquidated, before)
	c.sameTx(ctx, t, f[1], v.Settlement.TxID)
	c.operatorView(ctx, t, v, acct, c.liq, "100")

	// The canary key's emergency unfreeze drill pays the canary account's
	// owner (its notice period shortened to 2s, canary keys only).
	const unfrozen = 7_000_000
	before = c.balances(ctx, t, canary, c.canaryOwner)
	drill := &procCluster{bin: c.bin, dir: c.dir, cfgs: c.cfgs}
	out, code = drill.drill(t, "unfreeze", "--key-id", "canary-1", "--account", "canary-evm", "--asset", evmToken,
		"--amount", fmt.Sprint(unfrozen), "--timeout", "90s",
		"--operator-key", "custodian:alice:"+c.opKeys["custodian"], "--operator-key", "regulator:carol:"+c.opKeys["regulator"])
	for _, want := range []string{"verdict: PASS", "over the EVM transaction (chain 1337", "ok   the coordinator's transaction reaches its EVM node"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("unfreeze drill: exit %d, output lacks %q", code, want)
		}
	}
	rep := report(t, out)
	txid := rep.Params["txid"]
	if txid == "" {
		t.Fatal("the drill's report names no transaction")
	}
	c.paidOnChain(ctx, t, txid, canary, c.canaryOwner, unfrozen, before)
	c.sameTx(ctx, t, rep.Params["request_id"], txid)
	drill.recorded(t, rep, node.DefaultParties...)
}

func isDone(v service.View) bool {
	return v.Status == custody.StatusDone && v.Settlement != nil && v.Settlement.TxID != "" && v.Settlement.Confirmations >= 1
}

// sameTx checks every node calls the request done with the same
// transaction, confirmed on its own EVM node.
func (c *evmProcs) sameTx(ctx context.Context, t *testing.T, id, txid string) {
	t.Helper()
	for _, p := range node.DefaultParties {
		if v := c.waitView(ctx, t, p, id, isDone); v.Settlement.TxID != txid {
			t.Fatalf("%s records %s for %.12s, the exchange %s", p, v.Settlement.TxID, id, txid)
		}
	}
}
