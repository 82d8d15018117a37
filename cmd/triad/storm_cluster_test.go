package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/triad-custody/triad/internal/apiclient"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/btc/btcdtest"
	"github.com/triad-custody/triad/node"
)

// The storm benchmark's cluster: three `triad node run` processes with N
// custody accounts on children m/0/<i> of one DKG key, a regtest btcd
// every node uses, each account funded with one coin of its own, and a
// settlement (liquidation) address whose key the harness holds. The
// harness talks to the nodes only through their HTTP API and the CLI,
// and to the chain only through btcd's RPC.

const (
	stormKeyID   = "vault-1"
	stormFunding = btcutil.SatoshiPerBitcoin // one coin per account
	stormFeeRate = 5                         // sat/vB, every liquidation
)

// stormCluster is the running set-up.
type stormCluster struct {
	bin, dir string
	chain    *btcdtest.Node
	rpc      *btcdRPC
	started  map[string]*proc
	cfgs     map[string]string
	engine   ed25519.PrivateKey // the margin engine's evidence key (test-only, random)
	settle   string             // the liquidation address
	settleSc []byte             // its output script
	accounts []stormAccount
	batchKey string // the policy key for liquidation batches per day, "" if main has none
	perDay   int    // settlements_per_day
	// attestKey, when set, is a second key in policy.keys, of role
	// attestation; extraPolicy is appended to every node's policy.
	attestKey, extraPolicy string
}

type stormAccount struct {
	ID, Path, Address string
}

// newTestKey is a random secp256k1 key and its regtest P2WPKH address.
func newTestKey(t testing.TB) (*btcec.PrivateKey, string) {
	t.Helper()
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	a, err := btc.CustodyAddress(k.PubKey(), "regtest")
	if err != nil {
		t.Fatal(err)
	}
	return k, a.EncodeAddress()
}

// batchPolicyKey finds, in configs/sample.yaml, a policy key that limits
// liquidation batches per day, if this version of Triad has one.
func batchPolicyKey(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "sample.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s+(#\s*)?([a-z_]*liquidation[a-z_]*(?:per_day|batch)[a-z_]*)\s*:`)
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		if m[1] == "" {
			return m[2]
		}
	}
	return ""
}

// startStormCluster starts btcd, writes the three configs with n accounts,
// inits and starts the nodes, makes the custody key by DKG, derives every
// account's address through the API and funds each with one coin.
func startStormCluster(t *testing.T, n int) *stormCluster {
	t.Helper()
	return startStormClusterWith(t, n, nil)
}

// startStormClusterWith is startStormCluster with shape applied to the
// cluster before any config is written.
func startStormClusterWith(t *testing.T, n int, shape func(*stormCluster)) *stormCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	funderKey, funderAddr := newTestKey(t)
	chain := btcdtest.Start(t, btcdtest.Options{MiningAddr: funderAddr})
	chain.Mature(ctx, t)
	_, engine, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, settleAddr := newTestKey(t)
	settleSc, err := btc.DecodeAddress(settleAddr, "regtest")
	if err != nil {
		t.Fatal(err)
	}
	_, owner := newTestKey(t)
	c := &stormCluster{bin: buildBinary(t), dir: t.TempDir(), chain: chain, rpc: newBtcdRPC(chain),
		started: map[string]*proc{}, cfgs: map[string]string{}, engine: engine, settle: settleAddr, settleSc: settleSc,
		batchKey: batchPolicyKey(t), perDay: 2}
	if v := os.Getenv("TRIAD_TEST_STORM_SETTLEMENTS_PER_DAY"); v != "" {
		if c.perDay, err = strconv.Atoi(v); err != nil || c.perDay < 0 {
			t.Fatalf("TRIAD_TEST_STORM_SETTLEMENTS_PER_DAY=%q: want a count", v)
		}
	}
	for i := 0; i < n; i++ {
		c.accounts = append(c.accounts, stormAccount{ID: fmt.Sprintf("acct-%d", i), Path: fmt.Sprintf("m/0/%d", i)})
	}
	if shape != nil {
		shape(c)
	}
	t.Setenv("TRIAD_TEST_BTC_PASS", chain.Pass)
	for i, p := range node.DefaultParties {
		cfg := c.writeConfig(t, p, owner)
		if out, errOut, code := triad(t, c.bin, "init", "-c", cfg); code != 0 {
			t.Fatalf("init %s: %d %s %s", p, code, out, errOut)
		}
		sets := []int{i}
		if c.attestKey != "" {
			// A second DKG needs a second set at each node; the fixtures
			// hold five, so the regulator uses its own set for both keys
			// (one party's, never another's).
			sets = append(sets, []int{3, 4, i}[i])
		}
		seedFixturePreParams(t, cfg, sets...)
	}
	prof := os.Getenv("TRIAD_TEST_STORM_PROFILE") // a directory: each node writes <party>.cpu.pprof there
	for _, p := range node.DefaultParties {
		c.cfgs[p] = c.writeConfig(t, p, owner)
		if prof != "" {
			t.Setenv(cpuProfileEnv, filepath.Join(prof, p+".cpu.pprof")) // startNode passes its environment on
		}
		c.started[p] = startNode(t, c.bin, c.cfgs[p])
	}
	c.keygenKey(t, stormKeyID)
	c.deriveAddresses(ctx, t)
	c.fund(ctx, t, funderKey, funderAddr)
	return c
}

// keygenKey runs a key's DKG the way operators do: a spec, two parties'
// operator approvals (the configs' test operators alice and bob), then the
// keygen with both. It returns the keygen's output (its public key).
func (c *stormCluster) keygenKey(t *testing.T, keyID string) string {
	t.Helper()
	spec := filepath.Join(c.dir, "keygen-spec-"+keyID+".json")
	if out, errOut, code := triad(t, c.bin, "keygen", "spec", "--key-id", keyID, "--out", spec); code != 0 {
		t.Fatalf("keygen spec: %d\n%s\n%s", code, out, errOut)
	}
	args := []string{"keygen", "-c", c.cfgs["custodian"], "--key-id", keyID, "--spec", spec}
	for p, name := range map[string]string{"custodian": "alice", "exchange": "bob"} {
		seed := sha256.Sum256([]byte("triad-test/operator/" + p + "/" + name))
		kf := filepath.Join(c.dir, name+".key")
		if err := os.WriteFile(kf, []byte(hex.EncodeToString(seed[:])+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		appr := filepath.Join(c.dir, "keygen-"+keyID+"-"+p+".json")
		if out, errOut, code := triad(t, c.bin, "keygen", "approve", "--spec", spec, "--party", p, "--operator", name,
			"--operator-key", kf, "--out", appr); code != 0 {
			t.Fatalf("keygen approve %s: %d\n%s\n%s", p, code, out, errOut)
		}
		args = append(args, "--approval", appr)
	}
	out, errOut, code := triad(t, c.bin, args...)
	if code != 0 {
		t.Fatalf("keygen: %d\n%s\n%s", code, out, errOut)
	}
	return out
}

// writeConfig writes party's storm config (peers as in writeConfigAt).
func (c *stormCluster) writeConfig(t *testing.T, party, owner string) string {
	t.Helper()
	attest := ""
	if c.attestKey != "" {
		attest = ", {id: " + c.attestKey + ", role: attestation}"
	}
	var pol strings.Builder
	if party != "regulator" { // the regulator observes liquidations
		pol.WriteString("  auto_approve: [liquidation]\n")
	}
	if c.batchKey != "" {
		fmt.Fprintf(&pol, "  %s: %d\n", c.batchKey, max(len(c.accounts), 10))
	}
	pol.WriteString(c.extraPolicy)
	pol.WriteString("  accounts:\n")
	for _, a := range c.accounts {
		fmt.Fprintf(&pol, "    - {id: %s, key_id: %s, child_path: %s, owner_address: %s}\n", a.ID, stormKeyID, a.Path, owner)
	}
	y := nodeYAMLHead(party, party, "", peersYAML(party, c.started, nil), "30s", "admin", "operator", "margin-engine") + fmt.Sprintf(`bitcoin: {network: regtest, rpc_host: %[3]s, rpc_user: %[4]s, rpc_pass_env: TRIAD_TEST_BTC_PASS, broadcast: true}
policy:
  party: %[1]s
  settlements_per_day: %[9]d
  evidence_max_age: 1h
  liquidation_address: %[5]s
  margin_engine_keys: [%[6]s]
  keys: [{id: %[7]s, role: custody}%[10]s]
  assets: [{symbol: BTC, decimals: 8, max_amount: 100000000, collateral_factor_bps: 10000}]
`+operatorsYAML+`%[8]slog: {level: info}
`, party, nil, c.chain.RPCHost, c.chain.User, c.settle,
		hex.EncodeToString(c.engine.Public().(ed25519.PublicKey)), stormKeyID, pol.String(), c.perDay, attest)
	path := filepath.Join(c.dir, party+".yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// apiClient is a client of party's API with the given role's token and
// room for conns concurrent connections.
func (c *stormCluster) apiClient(t testing.TB, party, role string, conns int) *client {
	t.Helper()
	cl, err := apiclient.New(apiclient.Options{Config: c.cfgs[party], Role: role, MaxConns: conns})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// deriveAddresses asks the exchange's node for every account's address
// and checks, for the first and last account, that the other two nodes
// derive the same one.
func (c *stormCluster) deriveAddresses(ctx context.Context, t *testing.T) {
	t.Helper()
	const conns = 8
	cls := map[string]*client{}
	for _, p := range node.DefaultParties {
		cls[p] = c.apiClient(t, p, "admin", conns)
	}
	address := func(p, path string) (string, error) {
		var res api.AddressResponse
		q := "/v1/bitcoin/address?key_id=" + stormKeyID + "&network=regtest&path=" + path
		if err := cls[p].Do(ctx, "GET", q, nil, &res); err != nil {
			return "", fmt.Errorf("%s's address of %s: %w", p, path, err)
		}
		return res.Address, nil
	}
	errs := make(chan error, len(c.accounts))
	sem := make(chan struct{}, conns)
	var wg sync.WaitGroup
	for i := range c.accounts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			a, err := address("exchange", c.accounts[i].Path)
			c.accounts[i].Address = a
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []stormAccount{c.accounts[0], c.accounts[len(c.accounts)-1]} {
		for _, p := range []string{"custodian", "regulator"} {
			if got, err := address(p, a.Path); err != nil || got != a.Address {
				t.Fatalf("%s derives %s for %s, the exchange %s (%v)", p, got, a.Path, a.Address, err)
			}
		}
	}
}

// fund pays one coin to every account's address in one transaction
// spending the harness's mature coinbases, and mines it.
func (c *stormCluster) fund(ctx context.Context, t *testing.T, key *btcec.PrivateKey, from string) {
	t.Helper()
	coins, err := c.chain.Client.ListUnspent(ctx, from, 100)
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(coins, func(i, j int) bool { return coins[i].Value > coins[j].Value })
	tx := wire.NewMsgTx(2)
	for _, a := range c.accounts {
		sc, err := btc.DecodeAddress(a.Address, "regtest")
		if err != nil {
			t.Fatal(err)
		}
		tx.AddTxOut(wire.NewTxOut(stormFunding, sc))
	}
	need := int64(len(c.accounts)) * stormFunding
	// 2 sat/vB over a bound of the size.
	fee := func(inputs int) int64 { return int64(2 * (11 + 31*(len(c.accounts)+1) + 68*inputs)) }
	prev := txscript.NewMultiPrevOutFetcher(nil)
	var in int64
	var used []btc.Unspent
	for _, u := range coins {
		if in >= need+fee(len(used)) {
			break
		}
		tx.AddTxIn(wire.NewTxIn(&u.OutPoint, nil, nil))
		prev.AddPrevOut(u.OutPoint, wire.NewTxOut(u.Value, u.PkScript))
		used = append(used, u)
		in += u.Value
	}
	if in < need+fee(len(used)) {
		t.Fatalf("the miner's coins hold %d sat, the accounts need %d", in, need+fee(len(used)))
	}
	fromSc, err := btc.DecodeAddress(from, "regtest")
	if err != nil {
		t.Fatal(err)
	}
	if change := in - need - fee(len(used)); change > 1000 {
		tx.AddTxOut(wire.NewTxOut(change, fromSc))
	}
	hashes := txscript.NewTxSigHashes(tx, prev)
	for i, u := range used {
		w, err := txscript.WitnessSignature(tx, hashes, i, u.Value, u.PkScript, txscript.SigHashAll, key, true)
		if err != nil {
			t.Fatal(err)
		}
		tx.TxIn[i].Witness = w
	}
	txid, err := c.chain.Client.Broadcast(ctx, tx)
	if err != nil {
		t.Fatalf("funding transaction: %v", err)
	}
	c.chain.Generate(t, 1)
	if conf, err := c.chain.Client.Confirmations(ctx, txid); err != nil || conf < 1 {
		t.Fatalf("funding transaction %s: %d confirmations, %v", txid, conf, err)
	}
}

// peakRSS is a process's peak resident set (VmHWM), or "" off Linux.
func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// btcdRPC is the few btcd calls the verification needs that btc.Client
// does not offer, over plain JSON-RPC.
type btcdRPC struct {
	url, user, pass string
	http            *http.Client
}

func newBtcdRPC(n *btcdtest.Node) *btcdRPC {
	return &btcdRPC{url: "http://" + n.RPCHost, user: n.User, pass: n.Pass, http: &http.Client{Timeout: 30 * time.Second}}
}

func (r *btcdRPC) call(ctx context.Context, method string, params []any, out any) error {
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", r.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(r.user, r.pass)
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("btcd %s: %w", method, err)
	}
	defer resp.Body.Close()
	var res struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&res); err != nil {
		return fmt.Errorf("btcd %s: %s: %w", method, resp.Status, err)
	}
	if res.Error != nil {
		return fmt.Errorf("btcd %s: %d %s", method, res.Error.Code, res.Error.Message)
	}
	return json.Unmarshal(res.Result, out)
}

// chainTx is a transaction as btcd has it: decoded, and where it is.
type chainTx struct {
	Tx            *wire.MsgTx
	BlockHash     string
	Confirmations int64
}

func (r *btcdRPC) tx(ctx context.Context, txid string) (chainTx, error) {
	var res struct {
		Hex           string `json:"hex"`
		BlockHash     string `json:"blockhash"`
		Confirmations int64  `json:"confirmations"`
	}
	if err := r.call(ctx, "getrawtransaction", []any{txid, 1}, &res); err != nil {
		return chainTx{}, err
	}
	raw, err := hex.DecodeString(res.Hex)
	if err != nil {
		return chainTx{}, err
	}
	tx := wire.NewMsgTx(2)
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return chainTx{}, err
	}
	if tx.TxHash().String() != txid {
		return chainTx{}, fmt.Errorf("btcd returned %s for %s", tx.TxHash(), txid)
	}
	return chainTx{Tx: tx, BlockHash: res.BlockHash, Confirmations: res.Confirmations}, nil
}

func (r *btcdRPC) mempool(ctx context.Context) ([]string, error) {
	var ids []string
	err := r.call(ctx, "getrawmempool", []any{false}, &ids)
	return ids, err
}

// miner mines a block whenever btcd's mempool holds a transaction, at
// most maxBlocks, and records when (the harness's clock) it mined each.
type miner struct {
	mu      sync.Mutex
	minedAt map[string]time.Time // block hash → when generate returned
	seen    map[string]time.Time // txid → when first seen in the mempool
	err     error
}

// seenCopy is when each transaction was first seen in the mempool.
func (m *miner) seenCopy() map[string]time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]time.Time, len(m.seen))
	for k, v := range m.seen {
		out[k] = v
	}
	return out
}

func (c *stormCluster) runMiner(ctx context.Context, maxBlocks int) (*miner, <-chan struct{}) {
	m := &miner{minedAt: map[string]time.Time{}, seen: map[string]time.Time{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for mined := 0; mined < maxBlocks; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			ids, err := c.rpc.mempool(ctx)
			if err != nil || len(ids) == 0 {
				continue
			}
			seenAt := time.Now()
			hashes, err := c.chain.Client.Generate(ctx, 1)
			now := time.Now()
			m.mu.Lock()
			for _, id := range ids {
				if _, ok := m.seen[id]; !ok {
					m.seen[id] = seenAt
				}
			}
			if err != nil {
				m.err = err
			}
			for _, h := range hashes {
				m.minedAt[h.String()] = now
				mined++
			}
			m.mu.Unlock()
		}
	}()
	return m, done
}

func (m *miner) at(block string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.minedAt[block]
	return t, ok
}

// watchSigned follows the node's event stream and records, by the
// harness's clock, when each request was first reported signed (or done).
func watchSigned(ctx context.Context, cl *client) (func() map[string]time.Time, error) {
	sub, err := cl.Subscribe(ctx, "")
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	seen := map[string]time.Time{}
	go func() {
		defer sub.Close()
		for {
			e, err := sub.Next()
			if err != nil {
				return
			}
			if e.RequestID == "" {
				continue
			}
			if e.Type == "signed" || e.Status == "signed" || e.Status == "done" {
				now := time.Now()
				mu.Lock()
				if _, ok := seen[e.RequestID]; !ok {
					seen[e.RequestID] = now
				}
				mu.Unlock()
			}
		}
	}()
	return func() map[string]time.Time {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[string]time.Time, len(seen))
		for k, v := range seen {
			out[k] = v
		}
		return out
	}, nil
}
