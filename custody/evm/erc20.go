package evm

import (
	"context"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

// erc20JSON is the part of the ERC-20 interface Triad uses.
const erc20JSON = `[
 {"type":"function","name":"transfer","stateMutability":"nonpayable","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[{"name":"","type":"bool"}]},
 {"type":"function","name":"balanceOf","stateMutability":"view","inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"decimals","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint8"}]},
 {"type":"function","name":"symbol","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"string"}]},
 {"type":"event","name":"Transfer","anonymous":false,"inputs":[{"name":"from","type":"address","indexed":true},{"name":"to","type":"address","indexed":true},{"name":"value","type":"uint256","indexed":false}]}
]`

// ERC20 is the parsed ERC-20 ABI.
var ERC20 = func() abi.ABI {
	a, err := abi.JSON(strings.NewReader(erc20JSON))
	if err != nil {
		panic("evm: the built-in ERC-20 ABI does not parse: " + err.Error())
	}
	return a
}()

// TransferData is the call data of ERC-20 transfer(to, amount).
func TransferData(to common.Address, amount *big.Int) ([]byte, error) {
	return ERC20.Pack("transfer", to, amount)
}

// DecodeTransfer decodes ERC-20 transfer call data; ok is false for
// anything else (other methods, trailing bytes, bad encodings).
func DecodeTransfer(data []byte) (to common.Address, amount *big.Int, ok bool) {
	m := ERC20.Methods["transfer"]
	if len(data) != 4+32*2 || string(data[:4]) != string(m.ID) {
		return common.Address{}, nil, false
	}
	vals, err := m.Inputs.Unpack(data[4:])
	if err != nil || len(vals) != 2 {
		return common.Address{}, nil, false
	}
	to, ok1 := vals[0].(common.Address)
	amount, ok2 := vals[1].(*big.Int)
	if !ok1 || !ok2 {
		return common.Address{}, nil, false
	}
	// Re-encode: only the canonical encoding is a transfer we accept.
	if again, err := TransferData(to, amount); err != nil || string(again) != string(data) {
		return common.Address{}, nil, false
	}
	return to, amount, true
}

// TransferEvent is the topic of the ERC-20 Transfer event.
func TransferEvent() common.Hash { return ERC20.Events["Transfer"].ID }

// caller is what reading a contract needs of an EVM node.
type caller interface {
	CallContract(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error)
}

// call runs a view method of the ERC-20 at contract on the node's latest
// block and returns its single result.
func call(ctx context.Context, n caller, contract common.Address, method string, args ...any) (any, error) {
	return callAt(ctx, n, contract, nil, method, args...)
}

// callAt is call at block (nil: the latest).
func callAt(ctx context.Context, n caller, contract common.Address, block *big.Int, method string, args ...any) (any, error) {
	data, err := ERC20.Pack(method, args...)
	if err != nil {
		return nil, fmt.Errorf("evm: packing %s: %w", method, err)
	}
	out, err := n.CallContract(ctx, ethereum.CallMsg{To: &contract, Data: data}, block)
	if err != nil {
		return nil, fmt.Errorf("%w: %s() of %s: %w", ErrNode, method, contract.Hex(), err)
	}
	vals, err := ERC20.Unpack(method, out)
	if err != nil || len(vals) != 1 {
		return nil, fmt.Errorf("%w: %s() of %s returned %d bytes that do not decode (not an ERC-20?)", ErrNode, method, contract.Hex(), len(out))
	}
	return vals[0], nil
}

// TokenDecimals reads decimals() of the ERC-20 at contract.
func TokenDecimals(ctx context.Context, n caller, contract common.Address) (int, error) {
	v, err := call(ctx, n, contract, "decimals")
	if err != nil {
		return 0, err
	}
	d, ok := v.(uint8)
	if !ok {
		return 0, fmt.Errorf("%w: decimals() of %s is %T", ErrNode, contract.Hex(), v)
	}
	return int(d), nil
}

// TokenBalance reads balanceOf(owner) of the ERC-20 at contract.
func TokenBalance(ctx context.Context, n caller, contract, owner common.Address) (*big.Int, error) {
	return TokenBalanceAt(ctx, n, contract, owner, nil)
}

// TokenBalanceAt reads balanceOf(owner) of the ERC-20 at contract as of
// block (nil: the latest).
func TokenBalanceAt(ctx context.Context, n caller, contract, owner common.Address, block *big.Int) (*big.Int, error) {
	v, err := callAt(ctx, n, contract, block, "balanceOf", owner)
	if err != nil {
		return nil, err
	}
	b, ok := v.(*big.Int)
	if !ok {
		return nil, fmt.Errorf("%w: balanceOf() of %s is %T", ErrNode, contract.Hex(), v)
	}
	return b, nil
}

// TokenSymbol reads symbol() of the ERC-20 at contract.
func TokenSymbol(ctx context.Context, n caller, contract common.Address) (string, error) {
	v, err := call(ctx, n, contract, "symbol")
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: symbol() of %s is %T", ErrNode, contract.Hex(), v)
	}
	return s, nil
}
