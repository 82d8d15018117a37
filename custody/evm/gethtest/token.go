package gethtest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/triad-custody/triad/custody/evm"
)

// ArtifactJSON is the compiled test token (scripts/compile-token.sh).
//
//go:embed TestToken.json
var ArtifactJSON []byte

// SourceFile is the token's Solidity source, next to this file.
const SourceFile = "TestToken.sol"

// Artifact is the compiled contract.
type Artifact struct {
	Contract     string          `json:"contract"`
	Compiler     string          `json:"compiler"`
	SourceSHA256 string          `json:"source_sha256"`
	ABI          json.RawMessage `json:"abi"`
	Bytecode     string          `json:"bytecode"`
}

// LoadArtifact parses ArtifactJSON and its ABI.
func LoadArtifact() (*Artifact, abi.ABI, error) {
	var a Artifact
	if err := json.Unmarshal(ArtifactJSON, &a); err != nil {
		return nil, abi.ABI{}, err
	}
	parsed, err := abi.JSON(strings.NewReader(string(a.ABI)))
	return &a, parsed, err
}

// Ether returns n ether in wei.
func Ether(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1e18)) }

// DeployToken deploys TestToken(name, symbol, decimals) from the dev
// account (its owner, who may mint) and returns its address.
func (c *Chain) DeployToken(t testing.TB, name, symbol string, decimals uint8) common.Address {
	t.Helper()
	a, parsed, err := LoadArtifact()
	if err != nil {
		t.Fatalf("gethtest: artifact: %v", err)
	}
	args, err := parsed.Pack("", name, symbol, decimals)
	if err != nil {
		t.Fatalf("gethtest: constructor: %v", err)
	}
	code, err := hexutil.Decode(a.Bytecode)
	if err != nil {
		t.Fatalf("gethtest: bytecode: %v", err)
	}
	rc := c.Send(t, nil, nil, append(code, args...))
	if rc.ContractAddress == (common.Address{}) {
		t.Fatal("gethtest: deployment made no contract")
	}
	return rc.ContractAddress
}

// Mint mints amount base units of token to to.
func (c *Chain) Mint(t testing.TB, token, to common.Address, amount *big.Int) {
	t.Helper()
	_, parsed, err := LoadArtifact()
	if err != nil {
		t.Fatal(err)
	}
	data, err := parsed.Pack("mint", to, amount)
	if err != nil {
		t.Fatal(err)
	}
	c.Send(t, &token, nil, data)
}

// Fund sends wei from the dev account to to.
func (c *Chain) Fund(t testing.TB, to common.Address, wei *big.Int) {
	t.Helper()
	c.Send(t, &to, wei, nil)
}

// Send sends a transaction from the dev account (eth_sendTransaction),
// waits for its receipt and fails the test unless it succeeded.
func (c *Chain) Send(t testing.TB, to *common.Address, value *big.Int, data []byte) *types.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), receiptTimeout)
	defer cancel()
	arg := map[string]any{"from": c.Dev}
	if to != nil {
		arg["to"] = *to
	}
	if value != nil {
		arg["value"] = (*hexutil.Big)(value)
	}
	if data != nil {
		arg["input"] = hexutil.Bytes(data)
	}
	var hash common.Hash
	if err := c.RPC.CallContext(ctx, &hash, "eth_sendTransaction", arg); err != nil {
		t.Fatalf("gethtest: eth_sendTransaction: %v", err)
	}
	rc, err := c.WaitReceipt(ctx, hash)
	if err != nil {
		t.Fatalf("gethtest: %v", err)
	}
	if rc.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("gethtest: transaction %s failed", hash.Hex())
	}
	return rc
}

// WaitReceipt polls for hash's receipt until ctx ends (the caller's one
// deadline); geth --dev seals a block as soon as a transaction is pending.
// Not always: a transaction that arrives while the dev chain seals can
// stay pending until the next one (go-ethereum issue 29475; seen here
// under load as a minute of "transaction indexing is in progress"). So
// every nudgeEvery without a receipt it sends a zero-value transfer from
// the dev account to itself, which seals a block with whatever is pending.
func (c *Chain) WaitReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	nudge := time.NewTicker(nudgeEvery)
	defer nudge.Stop()
	var nudgeErr error
	for {
		rc, err := c.Client.TransactionReceipt(ctx, hash)
		if err == nil {
			return rc, nil
		}
		if !evm.ReceiptNotYet(err) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			if nudgeErr != nil {
				return nil, fmt.Errorf("%w (nudging the dev chain: %v)", ctx.Err(), nudgeErr)
			}
			return nil, ctx.Err()
		case <-tick.C:
		case <-nudge.C:
			var h common.Hash
			if err := c.RPC.CallContext(ctx, &h, "eth_sendTransaction", map[string]any{"from": c.Dev, "to": c.Dev}); err != nil {
				nudgeErr = err
			}
		}
	}
}
