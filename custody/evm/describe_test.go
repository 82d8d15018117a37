package evm_test

import (
	"math/big"
	"strings"
	"testing"

	becdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/triad-custody/triad/custody/evm"
)

func signedRaw(t *testing.T, p *evm.Plan) []byte {
	t.Helper()
	priv := privKey(9)
	d := p.Digest()
	sig := becdsa.Sign(priv, d[:])
	rs, ss := sig.R(), sig.S()
	rb, sb := rs.Bytes(), ss.Bytes()
	tx, err := evm.Finalize(p, new(big.Int).SetBytes(rb[:]), new(big.Int).SetBytes(sb[:]))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestDescribe: an operator's view of a signed ERC-20 transfer names the
// recovered sender, token, recipient, amount and fee cap; an unsigned one
// says so; anything Triad would not sign is an error, not a view.
func TestDescribe(t *testing.T) {
	p := testPlan(evm.Address(privKey(9).PubKey()))
	v, err := evm.Describe(signedRaw(t, p))
	if err != nil {
		t.Fatal(err)
	}
	if v.From != p.From.Hex() || v.Kind != "erc20_transfer" || v.Token != p.To.Hex() || v.Amount != "5" ||
		v.Recipient != common.HexToAddress("0x00000000000000000000000000000000000b0b00").Hex() ||
		v.ChainID != 1337 || v.Nonce != 3 || v.MaxFeeWei != "180000000000000" {
		t.Fatalf("view %+v", v)
	}
	var out strings.Builder
	v.Print(&out)
	for _, want := range []string{"recovered from the signature", "recipient  0x", "fee cap", "give --rpc"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("print lacks %q:\n%s", want, out.String())
		}
	}
	unsigned, _ := p.Tx().MarshalBinary()
	if v, err := evm.Describe(unsigned); err != nil || v.From != "" {
		t.Fatalf("unsigned: %+v, %v", v, err)
	}
	native := testPlan(p.From)
	native.Data, native.Value = nil, big.NewInt(2e18)
	if v, err := evm.Describe(signedRaw(t, native)); err != nil || v.Kind != "native_transfer" || v.AmountHuman != "2" {
		t.Fatalf("native: %+v, %v", v, err)
	}
	legacy, _ := types.NewTx(&types.LegacyTx{Nonce: 1, Gas: 21000, GasPrice: big.NewInt(1), To: &p.To, Value: big.NewInt(1)}).MarshalBinary()
	other := testPlan(p.From)
	other.Data = []byte{0xde, 0xad, 0xbe, 0xef}
	otherRaw, _ := other.Tx().MarshalBinary()
	for name, raw := range map[string][]byte{"empty": nil, "garbage": {0x02, 0x01}, "legacy": legacy, "other call": otherRaw} {
		if _, err := evm.Describe(raw); err == nil {
			t.Errorf("%s: described", name)
		}
	}
}

// TestDescribeChainIDZero: a type-2 transaction claiming chain ID 0 is an
// error, not a panic in go-ethereum's signer (found by FuzzPlanJSON).
func TestDescribeChainIDZero(t *testing.T) {
	p := testPlan(evm.Address(privKey(9).PubKey()))
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: new(big.Int), Nonce: 1, GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(1),
		Gas: 21000, To: &p.To, Value: big.NewInt(1), V: big.NewInt(1), R: big.NewInt(1), S: big.NewInt(1)})
	raw, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evm.Describe(raw); err == nil {
		t.Fatal("chain ID 0 described")
	}
	p.ChainID = 0
	if _, err := evm.Finalize(p, big.NewInt(1), big.NewInt(1)); err == nil {
		t.Fatal("a plan for chain ID 0 finalized")
	}
}
