package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/recovery"
)

// marginSim is a tiny margin engine: it signs margin-call evidence with
// its own key and asks the exchange's node for liquidations.
type marginSim struct {
	keyFile     string
	account     string
	keyID       string
	childPath   string
	asset       string
	destination string
	amount      uint64
	shortfall   uint64
	exposure    uint64
	price       uint64
	feeRate     uint64
	collateral  string
	prefix      string
	count       int
	wait        time.Duration
}

func init() { addCommand(newMarginSimCmd) }

func newMarginSimCmd() *cobra.Command {
	var f clientFlags
	var m marginSim
	c := &cobra.Command{
		Use:   "margin-sim --key FILE --account A --key-id K --amount SATS [--wait 2m] [-c EXCHANGE_CONFIG]",
		Short: "Play the margin engine: sign margin-call evidence and request liquidations",
		Long: `Signs margin-call evidence (account, asset, shortfall, collateral at market
value, exposure, price, time, nonce) with the margin engine's ed25519 key from
--key and submits a liquidation for each call to the exchange's node. Every
node checks the evidence signature against its own configured margin-engine
keys; the custodian's node may approve automatically. With --wait it follows
each request until it is done or refused.

  triad margin-sim -c exchange.yaml --key margin-engine.key --account acct-1 \
      --key-id vault-1 --child-path m/0/1 --destination bc1qliquidation… \
      --amount 100000 --shortfall 200000 --exposure 5000000 --price 6000000 \
      --collateral BTC=6000000 --wait 2m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if m.keyFile == "" || m.account == "" || m.keyID == "" || m.amount == 0 || m.destination == "" {
				return userErr("--key, --account, --key-id, --destination and --amount are required")
			}
			if m.count < 1 || m.count > 100 {
				return userErr("--count must be 1..100")
			}
			holdings, err := parseHoldings(m.collateral)
			if err != nil {
				return err
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			return m.run(cmd.OutOrStdout(), cl, holdings)
		},
	}
	f.register(c, "margin-engine")
	fl := c.Flags()
	fl.StringVar(&m.keyFile, "key", "", "file with the margin engine's ed25519 key (hex seed); never printed")
	fl.StringVar(&m.account, "account", "", "custody account")
	fl.StringVar(&m.keyID, "key-id", "", "the account's threshold key")
	fl.StringVar(&m.childPath, "child-path", "", "the account's child path, e.g. m/0/1")
	fl.StringVar(&m.asset, "asset", "BTC", "asset to sell")
	fl.StringVar(&m.destination, "destination", "", "the pre-authorised liquidation address")
	fl.Uint64Var(&m.amount, "amount", 0, "amount to sell, base units")
	fl.Uint64Var(&m.shortfall, "shortfall", 0, "shortfall, base units (default 2 × amount)")
	fl.Uint64Var(&m.exposure, "exposure", 5_000_000, "open exposure, quote minor units")
	fl.Uint64Var(&m.price, "price", 6_000_000, "price per whole unit of the asset, quote minor units")
	fl.Uint64Var(&m.feeRate, "fee-rate", 5, "fee rate, sat/vB")
	fl.StringVar(&m.collateral, "collateral", "BTC=6000000", "holdings at market value: ASSET=VALUE[,ASSET=VALUE]")
	fl.StringVar(&m.prefix, "idempotency-prefix", "", "idempotency key prefix (default: random)")
	fl.IntVar(&m.count, "count", 1, "how many liquidations to request")
	fl.DurationVar(&m.wait, "wait", 0, "follow each request until it is final, at most this long")
	return c
}

func parseHoldings(s string) ([]custody.Holding, error) {
	var out []custody.Holding
	for _, part := range strings.Split(s, ",") {
		asset, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.ParseUint(val, 10, 64)
		if !ok || err != nil {
			return nil, userErr("--collateral: want ASSET=VALUE, got %q", part)
		}
		out = append(out, custody.Holding{Asset: asset, Value: n})
	}
	return out, nil
}

func (m *marginSim) run(w io.Writer, cl *client, holdings []custody.Holding) error {
	key, err := recovery.LoadOperatorKey(m.keyFile)
	if err != nil {
		return userError{Err: err}
	}
	defer clear(key)
	prefix := m.prefix
	if prefix == "" {
		b := make([]byte, 4)
		rand.Read(b)
		prefix = "mc-" + hex.EncodeToString(b)
	}
	shortfall := m.shortfall
	if shortfall == 0 {
		shortfall = 2 * m.amount
	}
	var ids []string
	for i := 0; i < m.count; i++ {
		idem := fmt.Sprintf("%s-%d", prefix, i)
		ev := custody.SignMarginCall(custody.MarginCall{Account: m.account, Asset: m.asset, Shortfall: shortfall, Collateral: holdings,
			Exposure: m.exposure, Price: m.price, Time: time.Now(), Nonce: idem}, key)
		req := custody.Request{Kind: custody.KindLiquidation, IdempotencyKey: idem, Account: m.account, KeyID: m.keyID,
			ChildPath: m.childPath, Asset: m.asset, Destination: m.destination, Amount: m.amount, FeeRate: m.feeRate, Evidence: &ev}
		ctx, cancel := withTimeout(30 * time.Second)
		var v service.View
		err := cl.Do(ctx, "POST", "/v1/requests", req, &v)
		cancel()
		if err != nil {
			return fmt.Errorf("liquidation %s: %w", idem, err)
		}
		fmt.Fprintf(w, "%s %s %s %s\n", idem, v.ID, v.Status, v.Reason)
		ids = append(ids, v.ID)
	}
	if m.wait <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.wait)
	defer cancel()
	for _, id := range ids {
		v, err := followRequest(ctx, cl, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s %s %s\n", id, v.Status, v.Reason)
	}
	return nil
}

// followRequest polls a request until it is final (done or refused).
func followRequest(ctx context.Context, cl *client, id string) (service.View, error) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		var v service.View
		if err := cl.Do(ctx, "GET", "/v1/requests/"+id, nil, &v); err != nil {
			return v, err
		}
		if v.Status.Terminal() {
			return v, nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return v, fmt.Errorf("request %s still %s: %w", short12(id), v.Status, ctx.Err())
		}
	}
}
