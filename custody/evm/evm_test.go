package evm_test

import (
	"context"
	"math/big"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	becdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/evm"
)

func privKey(b byte) *btcec.PrivateKey {
	var k [32]byte
	k[31] = b
	priv, _ := btcec.PrivKeyFromBytes(k[:])
	return priv
}

// TestAddress: the Ethereum address of the secret key 1 is a well-known
// vector, and Hex gives its EIP-55 form.
func TestAddress(t *testing.T) {
	got := evm.Address(privKey(1).PubKey()).Hex()
	if want := "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"; got != want {
		t.Fatalf("address of key 1 = %s, want %s", got, want)
	}
}

// TestDeriveAccount: a child account is the BIP32 child Bitcoin derives
// too (btc.DeriveChild), and its Delta makes the child's private key.
func TestDeriveAccount(t *testing.T) {
	parent := privKey(7)
	acct, err := evm.DeriveAccount(parent.PubKey(), "m/0/7")
	if err != nil {
		t.Fatal(err)
	}
	child, delta, err := btc.DeriveChild(parent.PubKey(), btc.ChainCode(parent.PubKey()), []uint32{0, 7})
	if err != nil {
		t.Fatal(err)
	}
	if !acct.Public.IsEqual(child) || acct.Delta.Cmp(delta) != 0 || acct.Address != evm.Address(child) {
		t.Fatal("evm child differs from the Bitcoin derivation")
	}
	var d btcec.ModNScalar
	d.SetByteSlice(delta.Bytes())
	k := parent.Key
	k.Add(&d)
	if !btcec.PrivKeyFromScalar(&k).PubKey().IsEqual(acct.Public) {
		t.Fatal("parent + delta is not the child key")
	}
	root, err := evm.DeriveAccount(parent.PubKey(), "m")
	if err != nil || root.Delta != nil || root.Address != evm.Address(parent.PubKey()) {
		t.Fatalf("root account: %+v %v", root, err)
	}
	for _, bad := range []string{"m/0'/1", "x/1", "m/01"} {
		if _, err := evm.DeriveAccount(parent.PubKey(), bad); err == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
}

func TestParseAddress(t *testing.T) {
	good := "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
	for _, s := range []string{good, strings.ToLower(good), "0x" + strings.ToUpper(good[2:])} {
		if a, err := evm.ParseAddress(s); err != nil || a.Hex() != good {
			t.Errorf("ParseAddress(%q) = %s, %v", s, a.Hex(), err)
		}
	}
	for _, s := range []string{"0x7e5F4552091A69125d5DfCb7b8C2659029395Bdf", good[2:], "0x1234", good + "00", ""} {
		if _, err := evm.ParseAddress(s); err == nil {
			t.Errorf("ParseAddress(%q) accepted", s)
		}
	}
}

func TestUnits(t *testing.T) {
	for _, c := range []struct {
		s    string
		dec  int
		base string
	}{{"1250.5", 6, "1250500000"}, {"1", 18, "1000000000000000000"}, {"0.000001", 6, "1"}, {"7", 0, "7"}} {
		v, err := evm.ParseUnits(c.s, c.dec)
		if err != nil || v.String() != c.base {
			t.Errorf("ParseUnits(%q, %d) = %v, %v; want %s", c.s, c.dec, v, err, c.base)
			continue
		}
		if back := evm.FormatUnits(v, c.dec); back != c.s {
			t.Errorf("FormatUnits(%s, %d) = %q, want %q", v, c.dec, back, c.s)
		}
	}
	for _, s := range []string{"0", "0.0", "1.0000001", "-1", "1e6", " 1", "1.", ".5", "", "0x10", strings.Repeat("9", 80)} {
		if _, err := evm.ParseUnits(s, 6); err == nil {
			t.Errorf("ParseUnits(%q) accepted", s)
		}
	}
}

func TestTransferData(t *testing.T) {
	to := common.HexToAddress("0x00000000000000000000000000000000000b0b00")
	data, err := evm.TransferData(to, big.NewInt(42))
	if err != nil {
		t.Fatal(err)
	}
	if got := common.Bytes2Hex(data[:4]); got != "a9059cbb" {
		t.Fatalf("selector %s, want a9059cbb (transfer(address,uint256))", got)
	}
	if gotTo, amount, ok := evm.DecodeTransfer(data); !ok || gotTo != to || amount.Int64() != 42 {
		t.Fatalf("DecodeTransfer: %s %v %v", gotTo.Hex(), amount, ok)
	}
	for _, bad := range [][]byte{data[:len(data)-1], append(append([]byte(nil), data...), 0), nil} {
		if _, _, ok := evm.DecodeTransfer(bad); ok {
			t.Errorf("DecodeTransfer accepted %d bytes", len(bad))
		}
	}
	dirty := append([]byte(nil), data...)
	dirty[4] = 1 // a non-zero high byte in the address word: not canonical
	if _, _, ok := evm.DecodeTransfer(dirty); ok {
		t.Error("DecodeTransfer accepted a non-canonical address word")
	}
}

func testPlan(from common.Address) *evm.Plan {
	data, _ := evm.TransferData(common.HexToAddress("0x00000000000000000000000000000000000b0b00"), big.NewInt(5))
	return &evm.Plan{Request: "r-1", KeyID: "k", Path: "m", From: from, ChainID: 1337, Nonce: 3,
		To: common.HexToAddress("0x00000000000000000000000000000000000c0c00"), Value: new(big.Int), Data: data,
		Gas: 60000, MaxFeePerGas: big.NewInt(3e9), MaxPriorityFeePerGas: big.NewInt(1e9)}
}

// TestFinalizeLowSAndRecovery: a high-s signature (as tss-lib may return)
// is normalised, the recovery id is found, and the type-2 transaction
// recovers to the account; a signature by another key is refused.
func TestFinalizeLowSAndRecovery(t *testing.T) {
	priv := privKey(9)
	p := testPlan(evm.Address(priv.PubKey()))
	digest := p.Digest()
	sig := becdsa.Sign(priv, digest[:])
	rs, ss := sig.R(), sig.S()
	rb, sb := rs.Bytes(), ss.Bytes()
	r, s := new(big.Int).SetBytes(rb[:]), new(big.Int).SetBytes(sb[:])
	high := new(big.Int).Sub(btcec.S256().N, s) // the other valid s
	for _, sv := range []*big.Int{s, high} {
		tx, err := evm.Finalize(p, r, sv)
		if err != nil {
			t.Fatal(err)
		}
		if tx.Type() != types.DynamicFeeTxType {
			t.Fatalf("type %d", tx.Type())
		}
		from, err := types.Sender(types.LatestSignerForChainID(big.NewInt(1337)), tx)
		if err != nil || from != p.From {
			t.Fatalf("sender %s, %v", from.Hex(), err)
		}
		_, _, gotS := tx.RawSignatureValues()
		if gotS.Cmp(new(big.Int).Rsh(btcec.S256().N, 1)) > 0 {
			t.Fatal("s not normalised to low-s")
		}
	}
	other := testPlan(evm.Address(privKey(10).PubKey()))
	if _, err := evm.Finalize(other, r, s); err == nil {
		t.Fatal("a signature by another key was finalized")
	}
	if _, err := evm.Finalize(p, r, new(big.Int)); err == nil {
		t.Fatal("s = 0 accepted")
	}
	broken := testPlan(p.From)
	broken.MaxFeePerGas = nil
	if _, err := evm.Finalize(broken, r, s); err == nil {
		t.Fatal("a plan without a fee was finalized")
	}
}

func TestConfigValidate(t *testing.T) {
	good := evm.Config{ChainID: 1337, MaxFeePerGasWei: 100e9, MaxPriorityFeePerGasWei: 2e9, MaxGas: 200000, Confirmations: 1}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*evm.Config){
		"chain_id":     func(c *evm.Config) { c.ChainID = 0 },
		"max_fee":      func(c *evm.Config) { c.MaxFeePerGasWei = 0 },
		"priority_fee": func(c *evm.Config) { c.MaxPriorityFeePerGasWei = c.MaxFeePerGasWei + 1 },
		"max_gas":      func(c *evm.Config) { c.MaxGas = 100 },
		"confs":        func(c *evm.Config) { c.Confirmations = 0 },
		"rpc_url":      func(c *evm.Config) { c.RPCURL = "ftp://x" },
	} {
		c := good
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNewPolicy(t *testing.T) {
	cfg := evm.Config{ChainID: 1337, MaxFeePerGasWei: 100e9, MaxPriorityFeePerGasWei: 2e9, MaxGas: 200000, Confirmations: 1}
	owner := "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
	p := custody.Policy{
		Assets: []custody.Asset{
			{Symbol: "BTC", Decimals: 8},
			{Symbol: "USDC", Decimals: 6, Chain: "evm", ChainID: 1337, Contract: "0x00000000000000000000000000000000000c0c00", Class: custody.ClassStablecoin},
			{Symbol: "USDX", Decimals: 6, Chain: "evm", ChainID: 1, Contract: "0x00000000000000000000000000000000000c0c01"},
		},
		Accounts: []custody.Account{
			{ID: "btc-1", KeyID: "k", OwnerAddress: "bcrt1qxyz"},
			{ID: "evm-1", KeyID: "k", ChildPath: "m/0/1", OwnerAddress: owner},
		},
	}
	pol, err := evm.NewPolicy(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pol.Assets["USDC"]; !ok || len(pol.Assets) != 1 {
		t.Fatalf("assets %v: want USDC only (BTC is Bitcoin, USDX another chain)", pol.Assets)
	}
	if a, ok := pol.Accounts["evm-1"]; !ok || len(pol.Accounts) != 1 || a.Owner.Hex() != owner {
		t.Fatalf("accounts %v", pol.Accounts)
	}
	p.Accounts[1].OwnerAddress = "0x7e5F4552091A69125d5DfCb7b8C2659029395Bdf" // bad checksum
	if _, err := evm.NewPolicy(cfg, p); err == nil {
		t.Fatal("an owner address with a bad EIP-55 checksum was accepted")
	}
}

// TestRequestOf: a typed custody request (amount in base units) becomes
// the EVM request with its ID and the amount in token units; a request
// naming another key or path than the account's is refused.
func TestRequestOf(t *testing.T) {
	cfg := evm.Config{ChainID: 1337, MaxFeePerGasWei: 100e9, MaxPriorityFeePerGasWei: 2e9, MaxGas: 200000, Confirmations: 1}
	owner := "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
	pol, err := evm.NewPolicy(cfg, custody.Policy{
		Assets:   []custody.Asset{{Symbol: "USDC", Decimals: 6, MaxAmount: 1e12, Chain: "evm", ChainID: 1337, Contract: "0x00000000000000000000000000000000000c0c00"}},
		Accounts: []custody.Account{{ID: "evm-1", KeyID: "k", ChildPath: "m/0/1", OwnerAddress: owner}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &evm.Chain{Policy: pol, GroupKey: func(string) (*btcec.PublicKey, error) { return privKey(3).PubKey(), nil }}
	cr := custody.Request{Kind: custody.KindRelease, Account: "evm-1", KeyID: "k", ChildPath: "m/0/1", Asset: "USDC",
		Destination: owner, Amount: 1_250_500_000}
	r, err := c.RequestOf(cr)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != cr.ID() || r.Amount != "1250.5" || r.To != owner || r.Path != "m/0/1" {
		t.Fatalf("%+v", r)
	}
	r.Path = "m/0/2"
	if _, err := c.Sign(context.Background(), r, testPlan(common.Address{}), nil); evm.ReasonOf(err) != evm.ReasonAccount {
		t.Fatalf("another child path: %v, want %s", err, evm.ReasonAccount)
	}
	cr.Asset = "DOGE"
	if _, err := c.RequestOf(cr); evm.ReasonOf(err) != evm.ReasonToken {
		t.Fatalf("unknown asset: %v", err)
	}
}
