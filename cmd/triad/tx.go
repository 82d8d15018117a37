package main

import (
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/custody/settle"
)

func init() { addCommand(newTxCmd) }

func newTxCmd() *cobra.Command {
	tx := &cobra.Command{
		Use:   "tx",
		Short: "Inspect the transactions of custody requests (Bitcoin and EVM)",
	}
	var f clientFlags
	var id, evmRaw, rpcURL string
	var asJSON bool
	show := &cobra.Command{
		Use:   "show --config FILE --request ID",
		Short: "Decode a request's transaction as this node builds it: coins, outputs, fee, sighashes, PSBT, broadcast status",
		Long: `Decode a custody request's Bitcoin transaction for an operator. The node builds it from the typed
request with its own policy and its own key share, exactly as it would sign it: the coins spent, the
destination and the change back to the custody address, the fee against the policy ceiling, the sighash
each threshold signature signs, an unsigned PSBT for any PSBT-aware wallet, and (once finalised) the txid,
broadcast and confirmations. Ask each party's node: they must agree.

A request paid on an EVM chain is shown from the node's view of it: the signed EIP-1559 transaction the
node finalized, decoded (chain, sender, nonce, token, recipient, amount, fee cap; with --rpc, your own EVM
node, the token's symbol and the amount in tokens), or, before the node holds one, its plan and status.`,
		Example: `  triad tx show --config configs/custodian.yaml --request 3f2a...
  triad tx show --config configs/regulator.yaml --request 3f2a... --json
  triad tx show --evm-raw 0x02f8... --rpc http://127.0.0.1:8545`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if evmRaw != "" {
				return showEVMTx(cmd.OutOrStdout(), evmRaw, rpcURL, asJSON)
			}
			if len(id) != 64 {
				return userErr("--request: want the 64-character request ID")
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(30 * time.Second)
			defer cancel()
			var rv service.View
			if err := cl.Do(ctx, "GET", "/v1/requests/"+url.PathEscape(id), nil, &rv); err != nil {
				return err
			}
			if onEVM(rv) {
				return showRequestEVM(cmd.OutOrStdout(), rv, rpcURL, asJSON)
			}
			var v settle.View
			if err := cl.Do(ctx, "GET", "/v1/requests/"+url.PathEscape(id)+"/tx", nil, &v); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			v.Print(cmd.OutOrStdout())
			return nil
		},
	}
	f.register(show, "operator")
	show.Flags().StringVar(&id, "request", "", "request ID")
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	show.Flags().StringVar(&evmRaw, "evm-raw", "", "decode this raw EIP-1559 transaction (hex) instead of a request's")
	show.Flags().StringVar(&rpcURL, "rpc", "", "your own EVM node (JSON-RPC), for an EVM token's symbol and decimals")
	tx.AddCommand(show)
	return tx
}
