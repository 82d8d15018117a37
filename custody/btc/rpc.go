package btc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// ErrNotFound is wrapped when the node does not know a transaction.
var ErrNotFound = errors.New("btc: not found")

// ErrUnavailable is wrapped when the Bitcoin node cannot answer now: it is
// down, refused the connection, or answered something that is not
// JSON-RPC (btcd's plain-text "503 Too busy" past its RPC client limit).
// Calls retry it within their deadline; callers should wait, not fail
// the request.
var ErrUnavailable = errors.New("btc: bitcoin node unavailable")

// ClientConfig configures a Client. Host, User and Pass are required.
type ClientConfig struct {
	Host    string // host:port of btcd's RPC listener, e.g. 127.0.0.1:18334
	User    string
	Pass    string
	Network string // see Networks; used for addresses and coinbase maturity
	// Timeout bounds every call on top of the caller's context
	// (default 30s).
	Timeout time.Duration
	// MaxResponseBytes bounds a response body (default 32 MiB).
	MaxResponseBytes int64
	// MaxConcurrent bounds the calls in flight to the node at once
	// (default 4; btcd serves 10 RPC clients by default, and the three
	// nodes of a test cluster may share one). Others wait their turn
	// within their own deadline.
	MaxConcurrent int
	// Retries is how often a call is retried when the node is
	// unavailable (ErrUnavailable), with backoff from RetryBackoff
	// (default 50ms, doubling), within the call's deadline (default 6;
	// negative: none).
	Retries      int
	RetryBackoff time.Duration
}

// Client is a small JSON-RPC client for btcd over plain HTTP POST, meant for
// a node on loopback (no TLS). Commands and results use btcd's btcjson types,
// as rpcclient does; unlike rpcclient, every call takes a context and has a
// deadline, at most MaxConcurrent calls are in flight, and only an
// unavailable node (ErrUnavailable) is retried, within that deadline.
type Client struct {
	cfg    ClientConfig
	params *chaincfg.Params
	http   *http.Client
	nextID atomic.Uint64
	slots  chan struct{}
}

// NewClient validates cfg and returns a Client. It does not contact the node.
func NewClient(cfg ClientConfig) (*Client, error) {
	params, err := NetParams(cfg.Network)
	if err != nil {
		return nil, fmt.Errorf("rpc client: %w", err)
	}
	if cfg.Host == "" || cfg.User == "" || cfg.Pass == "" {
		return nil, fmt.Errorf("rpc client: %w: host, user and pass are required", ErrRPC)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 32 << 20
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 4
	}
	if cfg.Retries == 0 {
		cfg.Retries = 6
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 50 * time.Millisecond
	}
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: cfg.MaxConcurrent}
	return &Client{cfg: cfg, params: params, http: &http.Client{Transport: tr}, slots: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// call sends one command and decodes its result into result (may be nil):
// it waits for one of MaxConcurrent slots, and retries an unavailable
// node with backoff, all within Timeout (and ctx).
func (c *Client) call(ctx context.Context, cmd any, result any) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	method, _ := btcjson.CmdMethod(cmd)
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-ctx.Done():
		return fmt.Errorf("%w: %s: waiting for a free connection: %w", ErrUnavailable, method, ctx.Err())
	}
	backoff := c.cfg.RetryBackoff
	for try := 0; ; try++ {
		err := c.callOnce(ctx, method, cmd, result)
		if !errors.Is(err, ErrUnavailable) || try >= c.cfg.Retries || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// callOnce is one HTTP round trip.
func (c *Client) callOnce(ctx context.Context, method string, cmd any, result any) error {
	body, err := btcjson.MarshalCmd(btcjson.RpcVersion1, c.nextID.Add(1), cmd)
	if err != nil {
		return fmt.Errorf("%w: %s: marshal: %v", ErrRPC, method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.cfg.Host, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRPC, method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(c.cfg.User, c.cfg.Pass)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %s: %w", ErrRPC, method, err) // keeps context errors visible
		}
		return fmt.Errorf("%w: %w: %s: %w", ErrRPC, ErrUnavailable, method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%w: %s: read: %v", ErrRPC, method, err)
	}
	if int64(len(raw)) > c.cfg.MaxResponseBytes {
		return fmt.Errorf("%w: %s: response over %d bytes", ErrRPC, method, c.cfg.MaxResponseBytes)
	}
	var r struct {
		Result json.RawMessage   `json:"result"`
		Error  *btcjson.RPCError `json:"error"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		// Not JSON-RPC: btcd's "503 Too busy", a proxy's error page, a
		// node starting up. The text says why; nothing is parsed from it.
		why := fmt.Errorf("%w: %w: %s: HTTP %d: %q", ErrRPC, ErrUnavailable, method, resp.StatusCode, clipText(raw))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%w: %s: HTTP %d: credentials refused", ErrRPC, method, resp.StatusCode)
		}
		return why
	}
	if r.Error != nil {
		return fmt.Errorf("%w: %s: %w", ErrRPC, method, r.Error)
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		return fmt.Errorf("%w: %s: decode result: %v", ErrRPC, method, err)
	}
	return nil
}

// clipText is a short, printable excerpt of a non-JSON answer.
func clipText(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

func rpcCode(err error) (btcjson.RPCErrorCode, bool) {
	var e *btcjson.RPCError
	if errors.As(err, &e) {
		return e.Code, true
	}
	return 0, false
}

// BlockCount returns the height of the node's best block.
func (c *Client) BlockCount(ctx context.Context) (int64, error) {
	var n int64
	err := c.call(ctx, btcjson.NewGetBlockCountCmd(), &n)
	return n, err
}

// Broadcast sends a signed transaction with sendrawtransaction and returns
// its txid. The node refuses absurd fees (allowhighfees=false).
func (c *Client) Broadcast(ctx context.Context, tx *wire.MsgTx) (*chainhash.Hash, error) {
	if err := wellFormed(tx); err != nil {
		return nil, fmt.Errorf("broadcast: %w", err)
	}
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("broadcast: %w: %v", ErrBadSpend, err)
	}
	high := false
	var txid string
	if err := c.call(ctx, btcjson.NewSendRawTransactionCmd(hex.EncodeToString(buf.Bytes()), &high), &txid); err != nil {
		return nil, fmt.Errorf("broadcast %v: %w", tx.TxHash(), err)
	}
	h, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		return nil, fmt.Errorf("broadcast: %w: bad txid %q", ErrRPC, txid)
	}
	return h, nil
}

// Confirmations returns how many blocks confirm txid: 0 while it is in the
// mempool, ErrNotFound if the node does not know it. Confirmed transactions
// need btcd's --txindex.
func (c *Client) Confirmations(ctx context.Context, txid *chainhash.Hash) (int64, error) {
	verbose := 1
	var res struct {
		Confirmations int64 `json:"confirmations"`
	}
	err := c.call(ctx, btcjson.NewGetRawTransactionCmd(txid.String(), &verbose), &res)
	if code, ok := rpcCode(err); ok && code == btcjson.ErrRPCNoTxInfo {
		return 0, fmt.Errorf("confirmations of %v: %w: %w", txid, ErrNotFound, err)
	}
	if err != nil {
		return 0, fmt.Errorf("confirmations of %v: %w", txid, err)
	}
	return res.Confirmations, nil
}

// RawTransaction returns a transaction the node knows (mempool, or
// confirmed with --txindex); ErrNotFound if it knows none.
func (c *Client) RawTransaction(ctx context.Context, txid *chainhash.Hash) (*wire.MsgTx, error) {
	verbose := 0
	var raw string
	err := c.call(ctx, btcjson.NewGetRawTransactionCmd(txid.String(), &verbose), &raw)
	if code, ok := rpcCode(err); ok && code == btcjson.ErrRPCNoTxInfo {
		return nil, fmt.Errorf("transaction %v: %w: %w", txid, ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("transaction %v: %w", txid, err)
	}
	b, err := hex.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("transaction %v: %w: not hex", txid, ErrRPC)
	}
	tx := wire.NewMsgTx(wire.TxVersion)
	if err := tx.Deserialize(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("transaction %v: %w: %v", txid, ErrRPC, err)
	}
	return tx, nil
}

// Generate mines n blocks to the node's --miningaddr (regtest/simnet only).
func (c *Client) Generate(ctx context.Context, n uint32) ([]*chainhash.Hash, error) {
	var hashes []string
	if err := c.call(ctx, btcjson.NewGenerateCmd(n), &hashes); err != nil {
		return nil, fmt.Errorf("generate %d: %w", n, err)
	}
	out := make([]*chainhash.Hash, 0, len(hashes))
	for _, s := range hashes {
		h, err := chainhash.NewHashFromStr(s)
		if err != nil {
			return nil, fmt.Errorf("generate: %w: bad block hash %q", ErrRPC, s)
		}
		out = append(out, h)
	}
	return out, nil
}

// SoftForkStatus returns the BIP9 status ("defined", "started", "lockedin",
// "active", "failed") of a deployment such as "segwit".
func (c *Client) SoftForkStatus(ctx context.Context, name string) (string, error) {
	var res btcjson.GetBlockChainInfoResult
	if err := c.call(ctx, btcjson.NewGetBlockChainInfoCmd(), &res); err != nil {
		return "", fmt.Errorf("getblockchaininfo: %w", err)
	}
	if res.SoftForks != nil {
		if d, ok := res.SoftForks.Bip9SoftForks[name]; ok {
			return d.Status, nil
		}
	}
	if res.UnifiedSoftForks != nil {
		if d, ok := res.UnifiedSoftForks.SoftForks[name]; ok && d.BIP9SoftForkDescription != nil {
			return d.BIP9SoftForkDescription.Status, nil
		}
	}
	return "", fmt.Errorf("getblockchaininfo: %w: no deployment %q", ErrNotFound, name)
}

// TxOut is what the node says of one unspent output (gettxout).
type TxOut struct {
	Value         int64
	PkScript      []byte
	Confirmations int64 // 0 while the creating tx is in the mempool
	Coinbase      bool
	// Mature: not a coinbase output, or one past coinbase maturity.
	Mature bool
}

// TxOut looks one outpoint up (gettxout, mempool included): nil and
// ErrNotFound when the node knows no unspent output there (spent, by a
// mempool transaction too, or never created).
func (c *Client) TxOut(ctx context.Context, op wire.OutPoint) (*TxOut, error) {
	var info *btcjson.GetTxOutResult
	mempool := true
	if err := c.call(ctx, btcjson.NewGetTxOutCmd(op.Hash.String(), op.Index, &mempool), &info); err != nil {
		return nil, fmt.Errorf("looking up %v: %w", op, err)
	}
	if info == nil {
		return nil, fmt.Errorf("looking up %v: %w: spent or never created", op, ErrNotFound)
	}
	value, err := btcutil.NewAmount(info.Value)
	if err != nil || value <= 0 {
		return nil, fmt.Errorf("looking up %v: %w: value %v", op, ErrRPC, info.Value)
	}
	script, err := hex.DecodeString(info.ScriptPubKey.Hex)
	if err != nil {
		return nil, fmt.Errorf("looking up %v: %w: script is not hex", op, ErrRPC)
	}
	return &TxOut{Value: int64(value), PkScript: script, Confirmations: info.Confirmations, Coinbase: info.Coinbase,
		Mature: !info.Coinbase || info.Confirmations >= int64(c.params.CoinbaseMaturity)}, nil
}

// Unspent is a UTXO with what the node says about it.
type Unspent struct {
	UTXO
	Confirmations int64 // 0 while the creating tx is in the mempool
	Coinbase      bool
}

// ListUnspent returns the unspent outputs paying address that have at least
// minConf confirmations, excluding immature coinbase outputs, in a fixed
// order (by txid, then index). Outputs already spent by a mempool
// transaction are excluded. It needs btcd's --txindex and --addrindex: the
// candidates come from searchrawtransactions, and each is confirmed unspent
// with gettxout.
func (c *Client) ListUnspent(ctx context.Context, address string, minConf int64) ([]Unspent, error) {
	script, err := DecodeAddress(address, c.cfg.Network)
	if err != nil {
		return nil, fmt.Errorf("list unspent: %w", err)
	}
	txs, err := c.searchAddress(ctx, address)
	if err != nil {
		return nil, fmt.Errorf("list unspent %s: %w", address, err)
	}
	spent := make(map[wire.OutPoint]bool)
	listed := make(map[wire.OutPoint]bool) // pages may overlap if a block arrives
	var candidates []UTXO
	for _, tx := range txs {
		for _, in := range tx.TxIn {
			spent[in.PreviousOutPoint] = true
		}
		for i, out := range tx.TxOut {
			op := wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}
			if bytes.Equal(out.PkScript, script) && !listed[op] {
				listed[op] = true
				candidates = append(candidates, UTXO{OutPoint: op, Value: out.Value, PkScript: out.PkScript})
			}
		}
	}
	var result []Unspent
	for _, u := range candidates {
		if spent[u.OutPoint] {
			continue
		}
		var info *btcjson.GetTxOutResult
		mempool := true
		if err := c.call(ctx, btcjson.NewGetTxOutCmd(u.OutPoint.Hash.String(), u.OutPoint.Index, &mempool), &info); err != nil {
			return nil, fmt.Errorf("list unspent %s: %w", address, err)
		}
		if info == nil { // spent
			continue
		}
		if info.Confirmations < minConf {
			continue
		}
		if info.Coinbase && info.Confirmations < int64(c.params.CoinbaseMaturity) {
			continue
		}
		result = append(result, Unspent{UTXO: u, Confirmations: info.Confirmations, Coinbase: info.Coinbase})
	}
	sortUnspent(result)
	return result, nil
}

// Balance is the sum of ListUnspent(address, minConf).
func (c *Client) Balance(ctx context.Context, address string, minConf int64) (btcutil.Amount, error) {
	us, err := c.ListUnspent(ctx, address, minConf)
	if err != nil {
		return 0, err
	}
	var sum btcutil.Amount
	for _, u := range us {
		sum += btcutil.Amount(u.Value)
	}
	return sum, nil
}
