package gethtest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/evm/gethtest"
)

// TestArtifactSourceHash: the committed artifact was compiled from the
// committed source (its SHA-256), checked without any tool.
func TestArtifactSourceHash(t *testing.T) {
	src, err := os.ReadFile(gethtest.SourceFile)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := gethtest.LoadArtifact()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	if got := hex.EncodeToString(sum[:]); got != a.SourceSHA256 {
		t.Fatalf("TestToken.sol has SHA-256 %s; the artifact was compiled from %s: run scripts/compile-token.sh", got, a.SourceSHA256)
	}
}

// TestArtifactMatchesSource recompiles TestToken.sol with the pinned solc
// (scripts/compile-token.sh) and compares with the committed artifact.
func TestArtifactMatchesSource(t *testing.T) {
	solc := filepath.Join(gethtest.ToolsDir(), "solc-0.8.37", "node_modules", "solc", "solc.js")
	if _, err := os.Stat(solc); err != nil {
		gethtest.SkipOrFail(t, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		gethtest.SkipOrFail(t, err)
	}
	out := filepath.Join(t.TempDir(), "TestToken.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../../../scripts/compile-token.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compile-token.sh: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(gethtest.ArtifactJSON) {
		t.Fatal("TestToken.json differs from what solc 0.8.37 makes of TestToken.sol: run scripts/compile-token.sh and commit it")
	}
	var a gethtest.Artifact
	if err := json.Unmarshal(got, &a); err != nil || len(a.Bytecode) < 100 {
		t.Fatalf("artifact has no bytecode: %v", err)
	}
}

// TestDevChain: geth --dev starts on loopback, the token deploys with the
// configured decimals, mints and funds.
func TestDevChain(t *testing.T) {
	chain := gethtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := chain.Client.ChainID(ctx)
	if err != nil || id.Int64() != gethtest.ChainID {
		t.Fatalf("chain ID %v, %v", id, err)
	}
	token := chain.DeployToken(t, "Test USD", "TUSD", 6)
	holder := common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	chain.Mint(t, token, holder, big.NewInt(7_000_000))
	chain.Fund(t, holder, gethtest.Ether(1))
	dec, err := evm.TokenDecimals(ctx, chain.Client, token)
	if err != nil || dec != 6 {
		t.Fatalf("decimals %d, %v", dec, err)
	}
	bal, err := evm.TokenBalance(ctx, chain.Client, token, holder)
	if err != nil || bal.Int64() != 7_000_000 {
		t.Fatalf("balance %v, %v", bal, err)
	}
	sym, err := evm.TokenSymbol(ctx, chain.Client, token)
	if err != nil || sym != "TUSD" {
		t.Fatalf("symbol %q, %v", sym, err)
	}
	wei, err := chain.Client.BalanceAt(ctx, holder, nil)
	if err != nil || wei.Cmp(gethtest.Ether(1)) != 0 {
		t.Fatalf("ether balance %v, %v", wei, err)
	}
}
