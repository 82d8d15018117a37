package main

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/triad-custody/triad/custody/evm"
)

// `triad tx show --evm-raw` decodes an EVM transaction for an operator;
// input that is no EIP-1559 transfer is the caller's mistake (issue 12).
func TestTxShowEVM(t *testing.T) {
	token := common.HexToAddress("0x00000000000000000000000000000000000c0c00")
	to := common.HexToAddress("0x00000000000000000000000000000000000b0b00")
	data, _ := evm.TransferData(to, big.NewInt(1_250_500_000))
	p := &evm.Plan{ChainID: 1337, Nonce: 4, To: token, Value: new(big.Int), Data: data, Gas: 60000,
		MaxFeePerGas: big.NewInt(3e9), MaxPriorityFeePerGas: big.NewInt(1e9)}
	raw, _ := p.Tx().MarshalBinary()
	run := func(args ...string) (string, error) { return runRoot(t, args...) }
	out, err := run("tx", "show", "--evm-raw", hexutil.Encode(raw), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var v evm.TxView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.Recipient != to.Hex() || v.Amount != "1250500000" || v.Token != token.Hex() || v.Nonce != 4 {
		t.Fatalf("view %+v", v)
	}
	text, err := run("tx", "show", "--evm-raw", hexutil.Encode(raw), "--json=false")
	if err != nil || !strings.Contains(text, "recipient  "+to.Hex()) || !strings.Contains(text, "(unsigned)") {
		t.Fatalf("text %q, %v", text, err)
	}
	for _, bad := range []string{"zz", "0x02c0", "0x"} {
		if _, err := run("tx", "show", "--evm-raw", bad, "--json=false"); err == nil {
			t.Errorf("%q: no error", bad)
		} else if _, ok := err.(userError); !ok {
			t.Errorf("%q: %v is not the caller's mistake", bad, err)
		}
	}
}
