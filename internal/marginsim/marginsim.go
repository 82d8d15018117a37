package marginsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/internal/apiclient"
	"github.com/triad-custody/triad/recovery"
)

// DefaultFeeRate is the fee rate of a BTC liquidation when none is given.
const DefaultFeeRate = 5

// Sim is a tiny margin engine: it signs margin-call evidence with its
// own key and asks the exchange's node for liquidations.
// Its fields are the margin-sim flags of the same names.
type Sim struct {
	KeyFile     string
	Account     string
	KeyID       string
	ChildPath   string
	Asset       string
	Destination string
	Amount      uint64
	Shortfall   uint64
	Exposure    uint64
	Price       uint64
	FeeRate     uint64 // sat/vB of a Bitcoin asset; 0 for an EVM asset
	Collateral  string
	Prefix      string
	Count       int
	Wait        time.Duration
}

// ParseHoldings reads ASSET=VALUE[,ASSET=VALUE].
func ParseHoldings(s string) ([]custody.Holding, error) {
	var out []custody.Holding
	for _, part := range strings.Split(s, ",") {
		asset, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.ParseUint(val, 10, 64)
		if !ok || err != nil {
			return nil, apiclient.UserError{Err: fmt.Errorf("--collateral: want ASSET=VALUE, got %q", part)}
		}
		out = append(out, custody.Holding{Asset: asset, Value: n})
	}
	return out, nil
}

// Run signs Count margin calls and submits a liquidation for each, printing
// each request's ID and status to w; with Wait it follows each until it is
// final.
func (m *Sim) Run(w io.Writer, cl *apiclient.Client, holdings []custody.Holding) error {
	key, err := recovery.LoadOperatorKey(m.KeyFile)
	if err != nil {
		return apiclient.UserError{Err: err}
	}
	defer clear(key)
	prefix := m.Prefix
	if prefix == "" {
		b := make([]byte, 4)
		rand.Read(b)
		prefix = "mc-" + hex.EncodeToString(b)
	}
	shortfall := m.Shortfall
	if shortfall == 0 {
		shortfall = 2 * m.Amount
	}
	var ids []string
	for i := 0; i < m.Count; i++ {
		idem := fmt.Sprintf("%s-%d", prefix, i)
		ev := custody.SignMarginCall(custody.MarginCall{Account: m.Account, Asset: m.Asset, Shortfall: shortfall, Collateral: holdings,
			Exposure: m.Exposure, Price: m.Price, Time: time.Now(), Nonce: idem}, key)
		req := custody.Request{Kind: custody.KindLiquidation, IdempotencyKey: idem, Account: m.Account, KeyID: m.KeyID,
			ChildPath: m.ChildPath, Asset: m.Asset, Destination: m.Destination, Amount: m.Amount, FeeRate: m.FeeRate, Evidence: &ev}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var v service.View
		err := cl.Do(ctx, "POST", "/v1/requests", req, &v)
		cancel()
		if err != nil {
			return fmt.Errorf("liquidation %s: %w", idem, err)
		}
		fmt.Fprintf(w, "%s %s %s %s\n", idem, v.ID, v.Status, v.Reason)
		ids = append(ids, v.ID)
	}
	if m.Wait <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.Wait)
	defer cancel()
	for _, id := range ids {
		v, err := cl.FollowRequest(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s %s %s\n", id, v.Status, v.Reason)
	}
	return nil
}
