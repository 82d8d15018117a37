package main

import (
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/evm/gethtest"
	st "github.com/triad-custody/triad/custody/service/servicetest"
	"github.com/triad-custody/triad/custody/settle"
)

// signedTransfer is a signed EIP-1559 ERC-20 transfer of amount of token
// to to on chain 1337 at nonce 4, by a throwaway key; it returns the raw
// transaction and its sender.
func signedTransfer(t *testing.T, token, to common.Address, amount *big.Int) (*types.Transaction, common.Address) {
	t.Helper()
	data, err := evm.TransferData(to, amount)
	if err != nil {
		t.Fatal(err)
	}
	p := &evm.Plan{ChainID: 1337, Nonce: 4, To: token, Value: new(big.Int), Data: data, Gas: 60000,
		MaxFeePerGas: big.NewInt(3e9), MaxPriorityFeePerGas: big.NewInt(1e9)}
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tx, err := types.SignTx(p.Tx(), types.LatestSignerForChainID(big.NewInt(1337)), key)
	if err != nil {
		t.Fatal(err)
	}
	return tx, crypto.PubkeyToAddress(key.PublicKey)
}

// putRecord stores settlement record rec at party p as the settler does.
func putRecord(t *testing.T, c *st.Cluster, p custody.Party, rec settle.Record) {
	t.Helper()
	b, _ := json.Marshal(rec)
	if err := c.Svc(p).Store().PutSettlement(rec.RequestID, b); err != nil {
		t.Fatal(err)
	}
}

// Issue 12 (../shared/SECURITY.md scenario 8: an operator checks what was signed):
// `triad tx show --request` of an EVM request decodes the signed
// transaction in the node's view (chain, sender, nonce, token, recipient,
// amount, fee cap) and, before the node holds one, says what the view has;
// a Bitcoin request's view does not repeat its raw transaction and still
// goes to GET /v1/requests/{id}/tx.
func TestTxShowEVMRequest(t *testing.T) {
	c, as, _ := evmAPI(t, custody.Exchange)
	const million = "1000000000000000000000000"
	owner := common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	run := func(args ...string) (string, error) {
		t.Helper()
		out, errOut, err := runCLI(t, append(args, as...)...)
		return out + errOut, err
	}
	id, err := run("request", "--quiet", "--kind", "collateral_release", "--idempotency-key", "tfnd-show", "--account", st.Account,
		"--key-id", "fixture", "--child-path", st.ChildPath, "--asset", "TFND", "--destination", owner.Hex(), "--units", million)
	if id = strings.TrimSpace(id); err != nil || len(id) != 64 {
		t.Fatalf("request: %v %q", err, id)
	}
	out, err := run("tx", "show", "--request", id, "--json=false")
	if err != nil || !strings.Contains(out, "no signed transaction") || !strings.Contains(out, million+" base units") ||
		!strings.Contains(out, "recipient  "+owner.Hex()) || !strings.Contains(out, "of TFND") {
		t.Fatalf("tx show before signing: %v\n%s", err, out)
	}

	token := common.HexToAddress(tfnd.Contract)
	units, _ := new(big.Int).SetString(million, 10)
	tx, from := signedTransfer(t, token, owner, units)
	raw, _ := tx.MarshalBinary()
	putRecord(t, c, custody.Exchange, settle.Record{RequestID: id, TxID: tx.Hash().Hex(), Raw: hex.EncodeToString(raw), Broadcast: true, Confirmations: 1})
	if out, err = run("tx", "show", "--request", id, "--json"); err != nil {
		t.Fatalf("tx show: %v\n%s", err, out)
	}
	var got evmRequestTx
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Tx == nil {
		t.Fatalf("tx show --json: %v\n%s", err, out)
	}
	if v := got.Tx; v.ChainID != 1337 || v.From != from.Hex() || v.Nonce != 4 || v.Token != token.Hex() || v.Recipient != owner.Hex() ||
		v.Amount != million || v.MaxFeePerGas != "3000000000" || v.Hash != tx.Hash().Hex() || got.Settlement.Raw != "" || got.Asset != "TFND" {
		t.Fatalf("decoded %+v", got)
	}
	if out, err = run("tx", "show", "--request", id, "--json=false"); err != nil || !strings.Contains(out, "(recovered from the signature)") ||
		!strings.Contains(out, "fee cap    3000000000 wei/gas") || !strings.Contains(out, "broadcast true, 1 confirmations") {
		t.Fatalf("tx show text: %v\n%s", err, out)
	}
	// A record whose transaction is not the one it names is an error.
	putRecord(t, c, custody.Exchange, settle.Record{RequestID: id, TxID: "0x" + strings.Repeat("ab", 32), Raw: hex.EncodeToString(raw)})
	if out, err = run("tx", "show", "--request", id); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("mismatched record: %v\n%s", err, out)
	}

	// Bitcoin: the view does not carry the raw transaction; tx show asks /tx.
	btcID, err := run("request", "--quiet", "--kind", "collateral_release", "--idempotency-key", "btc-show", "--account", st.Account,
		"--key-id", "fixture", "--child-path", st.ChildPath, "--asset", "BTC", "--destination", st.OwnerAddress, "--amount", "1500", "--fee-rate", "5")
	btcID = strings.TrimSpace(btcID)
	if err != nil {
		t.Fatalf("btc request: %v %s", err, btcID)
	}
	putRecord(t, c, custody.Exchange, settle.Record{RequestID: btcID, TxID: strings.Repeat("cd", 32), Raw: "0200"})
	if v, err := c.Svc(custody.Exchange).Get(btcID); err != nil || v.Settlement == nil || v.Settlement.Raw != "" {
		t.Fatalf("bitcoin view settlement %+v, %v", v.Settlement, err)
	}
	if out, err = run("tx", "show", "--request", btcID); err == nil || !strings.Contains(err.Error(), "no_transaction") {
		t.Fatalf("bitcoin tx show: %v\n%s", err, out)
	}
}

// Issue 12, with the operator's own EVM node (geth --dev; skipped without
// it unless TRIAD_REQUIRE_TOOLS=1): `triad tx show --request --rpc` names
// the token by its contract's symbol and gives the amount in tokens.
func TestTxShowEVMRequestResolvesToken(t *testing.T) {
	chain := gethtest.Start(t)
	token := chain.DeployToken(t, "Test Fund", "TFND", 18)
	c, as, _ := evmAPI(t, custody.Exchange)
	owner := common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	const units = "1250500000000000000000000" // 1,250,500 tokens
	out, _, err := runCLI(t, append([]string{"request", "--quiet", "--kind", "collateral_release", "--idempotency-key", "tfnd-rpc",
		"--account", st.Account, "--key-id", "fixture", "--child-path", st.ChildPath, "--asset", "TFND", "--destination", owner.Hex(),
		"--units", units}, as...)...)
	id := strings.TrimSpace(out)
	if err != nil || len(id) != 64 {
		t.Fatalf("request: %v %q", err, out)
	}
	amount, _ := new(big.Int).SetString(units, 10)
	tx, _ := signedTransfer(t, token, owner, amount)
	raw, _ := tx.MarshalBinary()
	putRecord(t, c, custody.Exchange, settle.Record{RequestID: id, TxID: tx.Hash().Hex(), Raw: hex.EncodeToString(raw)})
	out, errOut, err := runCLI(t, append([]string{"tx", "show", "--request", id, "--rpc", chain.URL, "--json=false"}, as...)...)
	if err != nil || !strings.Contains(out, "token      "+token.Hex()+" TFND") || !strings.Contains(out, "amount     1250500 TFND ("+units+" base units)") {
		t.Fatalf("tx show --rpc: %v\n%s%s", err, out, errOut)
	}
}
