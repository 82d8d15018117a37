package holdings

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/custody"
)

// priceDomain prefixes what a price key signs.
const priceDomain = "triad/price-input/v1\n"

// MaxLeverageBps caps the credit line at 2× the valued collateral in the
// pilot, whatever the policy's max_leverage_bps says.
const MaxLeverageBps = 20000

// maxPrices bounds the prices of one input.
const maxPrices = 64

// AssetPrice is one asset's price: quote minor units (e.g. USD cents) per
// whole unit of the asset (10^decimals base units).
type AssetPrice struct {
	Asset string `json:"asset"`
	Price uint64 `json:"price"`
}

// PriceInput is a signed set of prices at one time, from a key the
// policy names (price_keys: an oracle's, or the margin engine's).
type PriceInput struct {
	Quote     string       `json:"quote"`
	Prices    []AssetPrice `json:"prices"`
	Time      time.Time    `json:"time"`
	Signature []byte       `json:"signature,omitempty"`
}

// SigningBytes is what the price key signs: a domain tag and the JSON of
// the input without its signature, time in UTC.
func (p PriceInput) SigningBytes() []byte {
	p.Signature = nil
	p.Time = p.Time.UTC()
	b, _ := json.Marshal(p) // strings, numbers and a time: cannot fail
	return append([]byte(priceDomain), b...)
}

// SignPrices signs p with key (the oracle, the margin engine, tests).
func SignPrices(p PriceInput, key ed25519.PrivateKey) PriceInput {
	p.Time = p.Time.UTC()
	p.Signature = ed25519.Sign(key, p.SigningBytes())
	return p
}

// CheckPrices refuses a price input that is unsigned or signed by no key
// of the policy's price_keys, older than its price_max_age or from the
// future (beyond clock_skew) by this node's clock now, or malformed.
func CheckPrices(pol custody.Policy, p PriceInput, now time.Time) error {
	keys := pol.PriceKeysParsed()
	switch {
	case len(keys) == 0:
		return fmt.Errorf("%w: the policy names no price key (price_keys)", ErrPrice)
	case len(p.Signature) == 0:
		return fmt.Errorf("%w: unsigned", ErrPrice)
	case !validID(p.Quote) || len(p.Prices) == 0 || len(p.Prices) > maxPrices:
		return fmt.Errorf("%w: quote %q with %d prices", ErrPrice, clip(p.Quote), len(p.Prices))
	}
	msg, ok := p.SigningBytes(), false
	for _, k := range keys {
		ok = ok || ed25519.Verify(k, msg, p.Signature)
	}
	if !ok {
		return fmt.Errorf("%w: not signed by a price key of this policy", ErrPrice)
	}
	if age := now.Sub(p.Time); age > pol.PriceAge() {
		return fmt.Errorf("%w: stale: priced %s ago, at most %s", ErrPrice, age.Round(time.Second), pol.PriceAge())
	} else if -age > pol.ClockSkew {
		return fmt.Errorf("%w: priced %s ahead of this node's clock", ErrPrice, (-age).Round(time.Second))
	}
	return nil
}

// CreditLine is one asset's contribution to an account's credit.
type CreditLine struct {
	Asset     string `json:"asset"`
	Amount    string `json:"amount"` // base units, from the proof
	Price     uint64 `json:"price"`  // quote minor units per whole unit
	FactorBps uint64 `json:"factor_bps"`
	Value     string `json:"value"` // amount × price × factor, quote minor units
}

// Credit is an account's credit line, from a verified proof of holdings
// and a checked price input.
type Credit struct {
	Account      string       `json:"account"`
	Quote        string       `json:"quote"`
	Lines        []CreditLine `json:"lines"`
	Collateral   string       `json:"collateral"` // Σ values, quote minor units
	LeverageBps  uint64       `json:"leverage_bps"`
	Limit        string       `json:"limit"` // collateral × leverage: the most credit the exchange may extend
	SnapshotTime time.Time    `json:"snapshot_time"`
	PriceTime    time.Time    `json:"price_time"`
}

// CreditFor verifies proof against the attestation key groupKey and the
// prices with CheckPrices, then values every leaf: amount × price ×
// collateral_factor_bps of its asset (98% tokenized MMF, 95% stablecoins:
// configured per asset), and caps the line at min(max_leverage_bps,
// MaxLeverageBps) of that. A leaf of an asset the policy does not
// configure, or with no price, is refused: no credit on a guess.
func CreditFor(pol custody.Policy, proof AccountProof, groupKey *btcec.PublicKey, prices PriceInput, now time.Time) (Credit, error) {
	if err := proof.Verify(groupKey); err != nil {
		return Credit{}, err
	}
	if err := CheckPrices(pol, prices, now); err != nil {
		return Credit{}, err
	}
	lev := min(pol.MaxLeverageBps, MaxLeverageBps)
	c := Credit{Account: proof.Account, Quote: prices.Quote, LeverageBps: lev,
		SnapshotTime: proof.Attestation.Snapshot.Time, PriceTime: prices.Time.UTC()}
	total := new(big.Int)
	for _, e := range proof.Entries {
		l := e.Leaf
		asset, ok := pol.AssetBySymbol(l.Asset)
		if !ok {
			return Credit{}, fmt.Errorf("%w: asset %s is not configured here", ErrPrice, l.Asset)
		}
		price, ok := priceOf(prices, l.Asset)
		if !ok {
			return Credit{}, fmt.Errorf("%w: no price for %s", ErrPrice, l.Asset)
		}
		v := new(big.Int).Mul(l.Amount, new(big.Int).SetUint64(price))
		v.Mul(v, new(big.Int).SetUint64(asset.CollateralFactorBps))
		v.Quo(v, new(big.Int).Mul(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(asset.Decimals)), nil), big.NewInt(10000)))
		total.Add(total, v)
		c.Lines = append(c.Lines, CreditLine{Asset: l.Asset, Amount: l.Amount.String(), Price: price,
			FactorBps: asset.CollateralFactorBps, Value: v.String()})
	}
	c.Collateral = total.String()
	c.Limit = new(big.Int).Quo(new(big.Int).Mul(total, new(big.Int).SetUint64(lev)), big.NewInt(10000)).String()
	return c, nil
}

func priceOf(p PriceInput, asset string) (uint64, bool) {
	found, price := 0, uint64(0)
	for _, ap := range p.Prices {
		if ap.Asset == asset {
			found, price = found+1, ap.Price
		}
	}
	return price, found == 1 && price > 0
}
