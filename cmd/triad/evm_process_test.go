package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/evm/gethtest"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/node"
)

// The EVM end to end test's cluster (issue 12): a geth --dev chain with
// the test token, and three `triad node run` processes whose configs name
// that chain (evm.chains) and the token (policy.assets). acct-evm is the
// custody key's child m/0/1, canary-evm the canary key's child m/0/2.
type evmProcs struct {
	*stormCluster // bin, dir, started, cfgs, engine; keygenKey, apiClient
	chain         *gethtest.Chain
	token         common.Address
	owner, liq    common.Address // acct-evm's owner and liquidation addresses
	canaryOwner   common.Address
	engineKey     string // the margin engine's key file
	opKeys        map[string]string
}

const (
	evmToken    = "TUSD"
	evmDecimals = 6
	evmFunding  = 5_000_000_000 // 5000 TUSD in base units, each account
)

func startEVMProcs(t *testing.T) *evmProcs {
	t.Helper()
	_, engine, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	chain := gethtest.Start(t)
	c := &evmProcs{chain: chain, opKeys: map[string]string{},
		owner: randomEVMAddress(t), liq: randomEVMAddress(t), canaryOwner: randomEVMAddress(t),
		stormCluster: &stormCluster{bin: buildBinary(t), dir: t.TempDir(), started: map[string]*proc{}, cfgs: map[string]string{}, engine: engine}}
	c.token = chain.DeployToken(t, "Test USD", evmToken, evmDecimals)
	c.engineKey = filepath.Join(c.dir, "margin-engine.key")
	if err := os.WriteFile(c.engineKey, []byte(hex.EncodeToString(engine.Seed())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Two DKGs: two pre-params sets at each node (the regulator its own
	// set twice; the fixtures hold five).
	pre := map[string][]int{"custodian": {0, 3}, "exchange": {1, 4}, "regulator": {2, 2}}
	for _, p := range node.DefaultParties {
		cfg := c.writeEVMConfig(t, p)
		if out, errOut, code := triad(t, c.bin, "init", "-c", cfg); code != 0 {
			t.Fatalf("init %s: %d %s %s", p, code, out, errOut)
		}
		seedFixturePreParams(t, cfg, pre[p]...)
	}
	for _, p := range node.DefaultParties {
		c.cfgs[p] = c.writeEVMConfig(t, p)
		c.started[p] = startNode(t, c.bin, c.cfgs[p])
	}
	c.keygenKey(t, stormKeyID)
	// A canary key's keygen carries no approvals.
	if out, errOut, code := triad(t, c.bin, "keygen", "-c", c.cfgs["custodian"], "--key-id", "canary-1"); code != 0 {
		t.Fatalf("keygen canary-1: %d\n%s\n%s", code, out, errOut)
	}
	for p, name := range map[string]string{"custodian": "alice", "exchange": "bob", "regulator": "carol"} {
		seed := sha256.Sum256([]byte("triad-test/operator/" + p + "/" + name))
		c.opKeys[p] = filepath.Join(c.dir, name+".key")
		if err := os.WriteFile(c.opKeys[p], []byte(hex.EncodeToString(seed[:])+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func randomEVMAddress(t *testing.T) common.Address {
	t.Helper()
	var a common.Address
	if _, err := rand.Read(a[:]); err != nil {
		t.Fatal(err)
	}
	return a
}

// writeEVMConfig writes party's config: no Bitcoin node, the dev chain in
// evm.chains (one confirmation, the caps of the settle tests) and TUSD in
// policy.assets; peers as in writeConfigAt.
func (c *evmProcs) writeEVMConfig(t *testing.T, party string) string {
	t.Helper()
	auto := ""
	if party != "regulator" {
		auto = "  auto_approve: [liquidation]\n"
	}
	y := nodeYAMLHead(party, party, "", peersYAML(party, c.started, nil), "30s", "admin", "operator", "margin-engine") + fmt.Sprintf(`evm:
  chains:
    - {chain_id: %[3]d, rpc_url: "%[4]s", max_fee_per_gas_wei: 100000000000, max_priority_fee_per_gas_wei: 2000000000, max_gas: 200000, confirmations: 1}
policy:
  party: %[1]s
  settlements_per_day: 2
  evidence_max_age: 1h
  canary_notice_period: 2s
  margin_engine_keys: [%[5]s]
%[6]s  keys: [{id: canary-1, role: canary}, {id: %[7]s, role: custody}]
  accounts:
    - {id: acct-evm, key_id: %[7]s, child_path: m/0/1, owner_address: %[8]s, liquidation_address: %[9]s}
    - {id: canary-evm, key_id: canary-1, child_path: m/0/2, owner_address: %[10]s}
  assets:
    - {symbol: BTC, decimals: 8, max_amount: 100000000, collateral_factor_bps: 10000}
    - {symbol: %[11]s, decimals: %[12]d, max_amount: 1000000000000, class: stablecoin, chain: evm, chain_id: %[3]d, contract: "%[13]s"}
`+operatorsYAML+`log: {level: warn}
`, party, nil, gethtest.ChainID, c.chain.URL, hex.EncodeToString(c.engine.Public().(ed25519.PublicKey)),
		auto, stormKeyID, c.owner.Hex(), c.liq.Hex(), c.canaryOwner.Hex(), evmToken, evmDecimals, c.token.Hex())
	path := filepath.Join(c.dir, party+".yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// evmAddress is `triad address --chain evm` of keyID's child path at
// party's node.
func (c *evmProcs) evmAddress(t *testing.T, party, keyID, path string) common.Address {
	t.Helper()
	out, errOut, code := triad(t, c.bin, "address", "-c", c.cfgs[party], "--token-file", filepath.Join(c.dir, party, "admin.token"),
		"--key-id", keyID, "--path", path, "--chain", "evm", "--json")
	var v evmAddressView
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || !common.IsHexAddress(v.Address) {
		t.Fatalf("address --chain evm at %s: %d\n%s%s", party, code, out, errOut)
	}
	return common.HexToAddress(v.Address)
}

// fundEVM mints evmFunding TUSD and sends one ether of gas to a, after
// checking the other nodes derive the same address.
func (c *evmProcs) fundEVM(t *testing.T, keyID, path string) common.Address {
	t.Helper()
	a := c.evmAddress(t, "exchange", keyID, path)
	for _, p := range []string{"custodian", "regulator"} {
		if got := c.evmAddress(t, p, keyID, path); got != a {
			t.Fatalf("%s derives %s for %s %s, the exchange %s", p, got.Hex(), keyID, path, a.Hex())
		}
	}
	c.chain.Mint(t, c.token, a, big.NewInt(evmFunding))
	c.chain.Fund(t, a, gethtest.Ether(1))
	return a
}

// waitView polls party's view of id until done(v) within ctx; a final
// status other than done fails the test.
func (c *evmProcs) waitView(ctx context.Context, t *testing.T, party, id string, done func(service.View) bool) service.View {
	t.Helper()
	cl := c.apiClient(t, party, "admin", 1)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var v service.View
	for {
		if err := cl.Do(ctx, "GET", "/v1/requests/"+id, nil, &v); err == nil {
			if done(v) {
				return v
			}
			if v.Status.Terminal() && v.Status != custody.StatusDone {
				t.Fatalf("%s: request %.12s is %s (%s)", party, id, v.Status, v.Reason)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: request %.12s never got there: %s %s %+v", party, id, v.Status, v.Reason, v.Settlement)
		case <-tick.C:
		}
	}
}

// paidOnChain checks, on the chain, that the request's transaction
// succeeded and logs exactly one Transfer(from, to, amount) of the token,
// and that from's and to's token balances moved by amount since before.
func (c *evmProcs) paidOnChain(ctx context.Context, t *testing.T, txid string, from, to common.Address, amount int64, before [2]*big.Int) *types.Receipt {
	t.Helper()
	rc, err := c.chain.WaitReceipt(ctx, common.HexToHash(txid))
	if err != nil {
		t.Fatalf("receipt of %s: %v", txid, err)
	}
	if rc.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("transaction %s failed on chain", txid)
	}
	want := big.NewInt(amount)
	n := 0
	for _, l := range rc.Logs {
		if l.Address == c.token && len(l.Topics) == 3 && l.Topics[0] == evm.TransferEvent() &&
			common.BytesToAddress(l.Topics[1].Bytes()) == from && common.BytesToAddress(l.Topics[2].Bytes()) == to &&
			new(big.Int).SetBytes(l.Data).Cmp(want) == 0 {
			n++
		}
	}
	if n != 1 || len(rc.Logs) != 1 {
		t.Fatalf("transaction %s: %d Transfer(%s → %s, %s) in %d logs, want exactly one", txid, n, from.Hex(), to.Hex(), want, len(rc.Logs))
	}
	after := [2]*big.Int{c.balance(ctx, t, from), c.balance(ctx, t, to)}
	if d := new(big.Int).Sub(before[0], after[0]); d.Cmp(want) != 0 {
		t.Fatalf("%s's balance moved by %s, want %s", from.Hex(), d, want)
	}
	if d := new(big.Int).Sub(after[1], before[1]); d.Cmp(want) != 0 {
		t.Fatalf("%s's balance moved by %s, want %s", to.Hex(), d, want)
	}
	return rc
}

func (c *evmProcs) balance(ctx context.Context, t *testing.T, who common.Address) *big.Int {
	t.Helper()
	b, err := evm.TokenBalance(ctx, c.chain.Client, c.token, who)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (c *evmProcs) balances(ctx context.Context, t *testing.T, a, b common.Address) [2]*big.Int {
	t.Helper()
	return [2]*big.Int{c.balance(ctx, t, a), c.balance(ctx, t, b)}
}

// operatorView checks that the transaction on chain is the one the view's
// plan describes (chain, nonce, gas, fee caps), and that `triad tx show
// --evm-raw` decodes its raw bytes for an operator: sender, token symbol
// and decimals read from the chain, recipient and human amount; and that
// `triad tx show --request` decodes the same from every node's view.
func (c *evmProcs) operatorView(ctx context.Context, t *testing.T, v service.View, from, to common.Address, human string) {
	t.Helper()
	tx, _, err := c.chain.Client.TransactionByHash(ctx, common.HexToHash(v.Settlement.TxID))
	if err != nil {
		t.Fatal(err)
	}
	p := v.Result.EVM
	if p == nil || p.ChainID != gethtest.ChainID || tx.ChainId().Uint64() != p.ChainID || tx.Nonce() != p.Nonce || tx.Gas() != p.Gas ||
		tx.GasFeeCap().String() != p.MaxFeePerGas || tx.GasTipCap().String() != p.MaxPriorityFeePerGas {
		t.Fatalf("the view's plan %+v is not the transaction on chain (nonce %d, gas %d, caps %s/%s)", p, tx.Nonce(), tx.Gas(), tx.GasFeeCap(), tx.GasTipCap())
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := triad(t, c.bin, "tx", "show", "--evm-raw", hexutil.Encode(raw), "--rpc", c.chain.URL, "--json")
	var d evm.TxView
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil {
		t.Fatalf("tx show --evm-raw: %d\n%s%s", code, out, errOut)
	}
	if d.From != from.Hex() || d.Recipient != to.Hex() || d.Symbol != evmToken || d.AmountHuman != human || d.Nonce != p.Nonce || d.Token != c.token.Hex() {
		t.Fatalf("tx show --evm-raw decodes %+v", d)
	}
	// `tx show --request` decodes the same transaction from each node's
	// view (the signed transaction its settler recorded).
	for _, party := range node.DefaultParties {
		out, errOut, code := triad(t, c.bin, "tx", "show", "-c", c.cfgs[party], "--request", v.ID, "--rpc", c.chain.URL, "--json")
		var r evmRequestTx
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Tx == nil || !reflect.DeepEqual(*r.Tx, d) {
			t.Fatalf("%s: tx show --request: %d, %+v, want %+v\n%s%s", party, code, r.Tx, d, out, errOut)
		}
	}
}
