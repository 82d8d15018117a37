package main

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/btc/btcdtest"
	"github.com/triad-custody/triad/node"
)

// canaryOwner is the canary account's owner address in writeConfigAt.
const canaryOwner = "bcrt1qqz7uva24ykly7sjdp9q3wjk3xqdvkne9d20ael"

// withBitcoin restarts every node of c on its old p2p address with a
// bitcoin section pointing at chain; the RPC password travels in the
// environment (rpc_pass_env), never in the file.
func (c *procCluster) withBitcoin(t *testing.T, chain *btcdtest.Node) {
	t.Helper()
	t.Setenv("TRIAD_TEST_BTC_PASS", chain.Pass)
	section := "bitcoin: {network: regtest, rpc_host: " + chain.RPCHost + ", rpc_user: " + chain.User +
		", rpc_pass_env: TRIAD_TEST_BTC_PASS, broadcast: true}\n"
	for _, p := range node.DefaultParties {
		old := c.started[p]
		old.cmd.Process.Signal(syscall.SIGTERM)
		old.cmd.Wait()
		cfg := writeConfigAt(t, c.dir, p, p, old.p2p[0], c.started)
		f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteString(section)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		c.cfgs[p] = cfg
		c.started[p] = startNode(t, c.bin, cfg)
	}
}

// The unfreeze drill on regtest: the canary key's account holds mature
// coins on a btcd regtest node every Triad node is configured with. The
// drill's request names those coins, every signer rebuilds and checks the
// transaction, the coordinator broadcasts it, and a block later the
// owner holds the amount. The canary notice period is the only shortcut.
func TestDrillUnfreezeRegtest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, runs a DKG and starts btcd")
	}
	c := startProcCluster(t)
	b, err := hex.DecodeString(c.pub)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := btcec.ParsePubKey(b)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := btc.CustodyAddress(pub, "regtest")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	chain := btcdtest.Start(t, btcdtest.Options{MiningAddr: acct.EncodeAddress()})
	chain.Mature(ctx, t)
	c.withBitcoin(t, chain)

	const amount = 50_000
	out, code := c.drill(t, "unfreeze", "--key-id", "canary-1", "--timeout", "90s", "--amount", "50000",
		"--operator-key", "custodian:alice:"+c.opKeys["custodian"], "--operator-key", "regulator:carol:"+c.opKeys["regulator"])
	for _, want := range []string{"verdict: PASS", "regtest input(s) verified", "ok   the coordinator's transaction reaches the regtest node"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("unfreeze drill on regtest: exit %d, output lacks %q", code, want)
		}
	}
	rep := report(t, out)
	c.recorded(t, rep, node.DefaultParties...)
	txid := rep.Params["txid"]
	if txid == "" {
		t.Fatal("the report names no txid")
	}
	chain.Generate(t, 1)
	if got, err := chain.Client.Balance(ctx, canaryOwner, 1); err != nil || int64(got) != amount {
		t.Fatalf("owner's balance %d after the drill's transaction %s, %v", got, txid, err)
	}
	// The operators' list shows the transaction once the node's tick has
	// seen it confirmed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, errOut, code := triad(t, c.bin, "requests", "-c", c.cfgs["custodian"], "--token-file", filepath.Join(c.dir, "custodian", "admin.token"))
		if code == 0 && strings.Contains(out, txid[:12]+" (1)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("triad requests never showed %s with 1 confirmation: %d\n%s%s", txid[:12], code, out, errOut)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
