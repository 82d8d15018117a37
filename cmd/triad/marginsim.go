package main

import (
	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/internal/marginsim"
)

func init() { addCommand(newMarginSimCmd) }

func newMarginSimCmd() *cobra.Command {
	var f clientFlags
	var m marginsim.Sim
	c := &cobra.Command{
		Use:   "margin-sim --key FILE --account A --key-id K --amount SATS [--wait 2m] [-c EXCHANGE_CONFIG]",
		Short: "Play the margin engine: sign margin-call evidence and request liquidations",
		Long: `Signs margin-call evidence (account, asset, shortfall, collateral at market
value, exposure, price, time, nonce) with the margin engine's ed25519 key from
--key and submits a liquidation for each call to the exchange's node. Every
node checks the evidence signature against its own configured margin-engine
keys; the custodian's node may approve automatically. With --wait it follows
each request until it is done or refused. An EVM asset's liquidation carries no
--fee-rate: its fees are the EVM plan's, under every node's evm.chains caps.

  triad margin-sim -c exchange.yaml --key margin-engine.key --account acct-1 \
      --key-id vault-1 --child-path m/0/1 --destination bc1qliquidation… \
      --amount 100000 --shortfall 200000 --exposure 5000000 --price 6000000 \
      --collateral BTC=6000000 --wait 2m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if m.KeyFile == "" || m.Account == "" || m.KeyID == "" || m.Amount == 0 || m.Destination == "" {
				return userErr("--key, --account, --key-id, --destination and --amount are required")
			}
			if m.Count < 1 || m.Count > 100 {
				return userErr("--count must be 1..100")
			}
			if m.FeeRate == 0 && m.Asset == "BTC" {
				m.FeeRate = marginsim.DefaultFeeRate
			}
			holdings, err := marginsim.ParseHoldings(m.Collateral)
			if err != nil {
				return err
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			return m.Run(cmd.OutOrStdout(), cl, holdings)
		},
	}
	f.register(c, "margin-engine")
	fl := c.Flags()
	fl.StringVar(&m.KeyFile, "key", "", "file with the margin engine's ed25519 key (hex seed); never printed")
	fl.StringVar(&m.Account, "account", "", "custody account")
	fl.StringVar(&m.KeyID, "key-id", "", "the account's threshold key")
	fl.StringVar(&m.ChildPath, "child-path", "", "the account's child path, e.g. m/0/1")
	fl.StringVar(&m.Asset, "asset", "BTC", "asset to sell")
	fl.StringVar(&m.Destination, "destination", "", "the pre-authorised liquidation address")
	fl.Uint64Var(&m.Amount, "amount", 0, "amount to sell, base units")
	fl.Uint64Var(&m.Shortfall, "shortfall", 0, "shortfall, base units (default 2 × amount)")
	fl.Uint64Var(&m.Exposure, "exposure", 5_000_000, "open exposure, quote minor units")
	fl.Uint64Var(&m.Price, "price", 6_000_000, "price per whole unit of the asset, quote minor units")
	fl.Uint64Var(&m.FeeRate, "fee-rate", 0, "fee rate of a Bitcoin asset, sat/vB (default 5 for BTC); leave out for an EVM asset")
	fl.StringVar(&m.Collateral, "collateral", "BTC=6000000", "holdings at market value: ASSET=VALUE[,ASSET=VALUE]")
	fl.StringVar(&m.Prefix, "idempotency-prefix", "", "idempotency key prefix (default: random)")
	fl.IntVar(&m.Count, "count", 1, "how many liquidations to request")
	fl.DurationVar(&m.Wait, "wait", 0, "follow each request until it is final, at most this long")
	return c
}
