package evm

import (
	"context"
	"fmt"
	"io"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
)

// maxRawTx bounds a raw transaction given to Describe.
const maxRawTx = 128 << 10

// TxView is an EVM transaction decoded for an operator.
type TxView struct {
	ChainID              uint64 `json:"chain_id"`
	Hash                 string `json:"hash"`
	From                 string `json:"from,omitempty"` // recovered from the signature; empty if unsigned
	Nonce                uint64 `json:"nonce"`
	To                   string `json:"to"`
	Kind                 string `json:"kind"`            // erc20_transfer | native_transfer
	Token                string `json:"token,omitempty"` // the ERC-20 contract
	Symbol               string `json:"symbol,omitempty"`
	Decimals             *int   `json:"decimals,omitempty"`
	Recipient            string `json:"recipient"`
	Amount               string `json:"amount"` // base units (wei for native)
	AmountHuman          string `json:"amount_human,omitempty"`
	Gas                  uint64 `json:"gas"`
	MaxFeePerGas         string `json:"max_fee_per_gas"`
	MaxPriorityFeePerGas string `json:"max_priority_fee_per_gas"`
	MaxFeeWei            string `json:"max_fee_wei"` // gas × max fee per gas: the most the fee can be
}

// Describe decodes a raw EIP-1559 transaction (signed or not) that is an
// ERC-20 transfer(to, amount) or a plain value transfer; anything else is
// an error (Triad signs nothing else).
func Describe(raw []byte) (*TxView, error) {
	if len(raw) == 0 || len(raw) > maxRawTx {
		return nil, fmt.Errorf("a raw transaction of %d bytes (want 1..%d)", len(raw), maxRawTx)
	}
	var tx types.Transaction
	if err := tx.UnmarshalBinary(raw); err != nil {
		return nil, fmt.Errorf("not an EVM transaction: %w", err)
	}
	if tx.Type() != types.DynamicFeeTxType || tx.To() == nil || !tx.ChainId().IsUint64() || tx.ChainId().Sign() == 0 {
		return nil, fmt.Errorf("not an EIP-1559 (type-2) call or transfer (type %d)", tx.Type())
	}
	v := &TxView{ChainID: tx.ChainId().Uint64(), Hash: tx.Hash().Hex(), Nonce: tx.Nonce(), To: tx.To().Hex(),
		Gas: tx.Gas(), MaxFeePerGas: tx.GasFeeCap().String(), MaxPriorityFeePerGas: tx.GasTipCap().String(),
		MaxFeeWei: new(big.Int).Mul(new(big.Int).SetUint64(tx.Gas()), tx.GasFeeCap()).String()}
	if r, s, _ := tx.RawSignatureValues(); r.Sign() != 0 || s.Sign() != 0 {
		from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), &tx)
		if err != nil {
			return nil, fmt.Errorf("the signature does not recover: %w", err)
		}
		v.From = from.Hex()
	}
	switch to, amount, ok := DecodeTransfer(tx.Data()); {
	case ok && tx.Value().Sign() == 0:
		v.Kind, v.Token, v.Recipient, v.Amount = "erc20_transfer", tx.To().Hex(), to.Hex(), amount.String()
	case len(tx.Data()) == 0:
		d := 18
		v.Kind, v.Recipient, v.Amount, v.Decimals = "native_transfer", tx.To().Hex(), tx.Value().String(), &d
		v.AmountHuman = FormatUnits(tx.Value(), 18)
	default:
		return nil, fmt.Errorf("neither an ERC-20 transfer nor a plain value transfer (call data %s)", clip(hexutil.Encode(tx.Data())))
	}
	return v, nil
}

// Resolve fills in the token's symbol, decimals and the human amount from
// an EVM node (the operator's own).
func (v *TxView) Resolve(ctx context.Context, n caller) error {
	if v.Kind != "erc20_transfer" {
		return nil
	}
	token := common.HexToAddress(v.Token)
	sym, err := TokenSymbol(ctx, n, token)
	if err != nil {
		return err
	}
	dec, err := TokenDecimals(ctx, n, token)
	if err != nil {
		return err
	}
	amount, _ := new(big.Int).SetString(v.Amount, 10)
	v.Symbol, v.Decimals, v.AmountHuman = sym, &dec, FormatUnits(amount, dec)
	return nil
}

// Print writes the view for an operator.
func (v *TxView) Print(w io.Writer) {
	p := func(k, format string, a ...any) { fmt.Fprintf(w, "%-11s"+format+"\n", append([]any{k}, a...)...) }
	p("chain", "%d (EIP-1559, type 2)", v.ChainID)
	p("hash", "%s", v.Hash)
	if v.From != "" {
		p("from", "%s (recovered from the signature)", v.From)
	} else {
		p("from", "(unsigned)")
	}
	p("nonce", "%d", v.Nonce)
	if v.Kind == "erc20_transfer" {
		p("token", "%s %s", v.Token, v.Symbol)
	}
	p("recipient", "%s", v.Recipient)
	switch {
	case v.AmountHuman != "" && v.Kind == "native_transfer":
		p("amount", "%s (native coin; %s wei)", v.AmountHuman, v.Amount)
	case v.AmountHuman != "":
		p("amount", "%s %s (%s base units)", v.AmountHuman, v.Symbol, v.Amount)
	default:
		p("amount", "%s base units (give --rpc to resolve the token's symbol and decimals)", v.Amount)
	}
	p("gas limit", "%d", v.Gas)
	maxFee, _ := new(big.Int).SetString(v.MaxFeeWei, 10)
	p("fee cap", "%s wei/gas, priority %s wei/gas; at most %s wei (%s of the native coin) in all",
		v.MaxFeePerGas, v.MaxPriorityFeePerGas, v.MaxFeeWei, FormatUnits(maxFee, 18))
}
