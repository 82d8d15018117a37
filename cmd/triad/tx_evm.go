package main

import (
	"fmt"
	"io"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/triad-custody/triad/custody/evm"
)

// showEVMTx decodes a raw EVM transaction for an operator: chain, sender,
// nonce, token, recipient, amount and fee cap; with rpcURL the token's
// symbol and decimals come from that (the operator's own) EVM node.
func showEVMTx(out io.Writer, rawHex, rpcURL string, asJSON bool) error {
	raw, err := hexutil.Decode(rawHex)
	if err != nil {
		return userErr("--evm-raw: want 0x-prefixed hex: %v", err)
	}
	v, err := evm.Describe(raw)
	if err != nil {
		return userErr("--evm-raw: %v", err)
	}
	if err := resolveToken(v, rpcURL); err != nil {
		return err
	}
	if asJSON {
		return printJSON(out, v)
	}
	v.Print(out)
	return nil
}

// resolveToken fills in v's token symbol, decimals and human amount from
// the EVM node at rpcURL, if one is given.
func resolveToken(v *evm.TxView, rpcURL string) error {
	if rpcURL == "" {
		return nil
	}
	ctx, cancel := withTimeout(30 * time.Second)
	defer cancel()
	c, err := evm.Dial(ctx, rpcURL)
	if err != nil {
		return userErr("--rpc: %v", err)
	}
	defer c.Close()
	if err := v.Resolve(ctx, c); err != nil {
		return fmt.Errorf("resolving the token on %s: %w", rpcURL, err)
	}
	return nil
}
