package custody

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"
)

// KeyRole says what a threshold key may be used for.
type KeyRole string

// Key roles.
const (
	RoleCustody KeyRole = "custody" // holds client collateral; never signs raw digests
	RoleCanary  KeyRole = "canary"  // drills only; the only role the raw-digest path accepts
	// RoleAttestation signs proofs of holdings (package holdings) and
	// nothing else: no account may be held by it, Evaluate refuses every
	// transfer on it and CheckRawDigest the raw-digest path.
	RoleAttestation KeyRole = "attestation"
)

// Valid reports whether r is a known role.
func (r KeyRole) Valid() bool {
	return r == RoleCustody || r == RoleCanary || r == RoleAttestation
}

// Policy is one node's configuration of what it will sign. Every node holds
// its own copy and evaluates every request against it independently.
// Lists (not maps) are used where keys are case-sensitive identifiers,
// because viper lower-cases map keys.
type Policy struct {
	// Party is this node's party.
	Party Party `mapstructure:"party" yaml:"party"`
	// AutoApprove lists kinds this node approves without its operator when
	// every check passes (e.g. [liquidation] for custodian and exchange).
	// emergency_unfreeze and canary always need operator signatures.
	AutoApprove []Kind `mapstructure:"auto_approve" yaml:"auto_approve"`
	// SettlementsPerDay caps fund-moving requests this node begins signing
	// per UTC day (pilot: 2); unfreeze drills on canary keys are not counted.
	SettlementsPerDay int `mapstructure:"settlements_per_day" yaml:"settlements_per_day"`
	// LiquidationBatchesPerDay caps liquidation settlements this node
	// begins signing per UTC day, apart from SettlementsPerDay: the
	// pre-authorised liquidation path exists to cap losses, so a storm of
	// margin calls must not wait for tomorrow's settlement quota.
	// 0: DefaultLiquidationBatchesPerDay.
	LiquidationBatchesPerDay int `mapstructure:"liquidation_batches_per_day" yaml:"liquidation_batches_per_day"`
	// LiquidationBatchWindow is how long the coordinator of liquidations
	// gathers approved ones before it cuts a liquidation batch: one
	// transaction paying them all (0: DefaultLiquidationBatchWindow).
	LiquidationBatchWindow time.Duration `mapstructure:"liquidation_batch_window" yaml:"liquidation_batch_window"`
	// LiquidationBatchMax cuts a batch at once when that many liquidations
	// are queued (0: DefaultLiquidationBatchMax; at most MaxBatchMembers).
	LiquidationBatchMax int `mapstructure:"liquidation_batch_max" yaml:"liquidation_batch_max"`
	// MaxFeeRate caps the fee rate in sat/vB.
	MaxFeeRate uint64 `mapstructure:"max_fee_rate" yaml:"max_fee_rate"`
	// MaxFee caps one transaction's absolute fee in satoshis, computed by
	// each signer from the input values its own Bitcoin node reports.
	// 0: DefaultMaxFee.
	MaxFee uint64 `mapstructure:"max_fee" yaml:"max_fee"`
	// MaxLeverageBps: exposure / haircut collateral above this (basis
	// points; 20000 = 2.00x) means the exchange extended credit beyond the
	// pilot limit; such a liquidation is not automatic and needs an operator.
	MaxLeverageBps uint64 `mapstructure:"max_leverage_bps" yaml:"max_leverage_bps"`
	// EvidenceMaxAge: margin-call evidence older than this is stale.
	EvidenceMaxAge time.Duration `mapstructure:"evidence_max_age" yaml:"evidence_max_age"`
	// ApprovalMaxTTL bounds an operator approval's validity window.
	ApprovalMaxTTL time.Duration `mapstructure:"approval_max_ttl" yaml:"approval_max_ttl"`
	// ClockSkew tolerated for times other nodes or the margin engine set.
	ClockSkew time.Duration `mapstructure:"clock_skew" yaml:"clock_skew"`
	// NoticePeriod of an emergency unfreeze (default 24h).
	NoticePeriod time.Duration `mapstructure:"notice_period" yaml:"notice_period"`
	// CanaryNoticePeriod, when set, replaces NoticePeriod for an emergency
	// unfreeze on a canary key (the unfreeze drill), and only there: an
	// unfreeze on a custody key always waits NoticePeriod. 0: NoticePeriod.
	CanaryNoticePeriod time.Duration `mapstructure:"canary_notice_period" yaml:"canary_notice_period"`
	// UnfreezeLapse: an emergency unfreeze lapses this long after opening (48h).
	UnfreezeLapse time.Duration `mapstructure:"unfreeze_lapse" yaml:"unfreeze_lapse"`
	// MaxSigningAttempts bounds signing attempts per request.
	MaxSigningAttempts int `mapstructure:"max_signing_attempts" yaml:"max_signing_attempts"`
	// RequireZeroExposure: refuse releases while the account has exposure
	// (the exchange sets this).
	RequireZeroExposure bool `mapstructure:"require_zero_exposure" yaml:"require_zero_exposure"`
	// LiquidationAddress is the pre-authorised liquidation destination.
	LiquidationAddress string `mapstructure:"liquidation_address" yaml:"liquidation_address"`
	// MarginEngineKeys are hex ed25519 public keys of the margin engine.
	MarginEngineKeys []string `mapstructure:"margin_engine_keys" yaml:"margin_engine_keys"`
	// Operators lists each party's operator keys.
	Operators map[Party][]OperatorKey `mapstructure:"operators" yaml:"operators"`
	// Keys lists threshold keys and their roles.
	Keys []KeyConfig `mapstructure:"keys" yaml:"keys"`
	// Accounts lists custody accounts.
	Accounts []Account `mapstructure:"accounts" yaml:"accounts"`
	// Assets lists assets with their limits and collateral factors.
	Assets []Asset `mapstructure:"assets" yaml:"assets"`
	// PriceKeys are hex ed25519 public keys whose signed price inputs
	// credit lines are computed from (an oracle's, or the margin
	// engine's); none: this node computes no credit.
	PriceKeys []string `mapstructure:"price_keys" yaml:"price_keys"`
	// PriceMaxAge: a price input older than this is stale and refused
	// (0: DefaultPriceMaxAge).
	PriceMaxAge time.Duration `mapstructure:"price_max_age" yaml:"price_max_age"`
	// HoldingsSnapshotEvery is how often the custodian's node takes a
	// holdings snapshot and has the attestation key sign it, at multiples
	// of it in UTC (0: DefaultHoldingsSnapshotEvery, 00:00 and 12:00 UTC).
	// Other nodes, and nodes without an attestation key, ignore it.
	HoldingsSnapshotEvery time.Duration `mapstructure:"holdings_snapshot_every" yaml:"holdings_snapshot_every"`
	// ReconcileEvery is how often the regulator's node reconciles its audit
	// chain with each peer's, and the three nodes' holdings views (at
	// multiples of it in UTC; package holdings) (0: twice a day). Other
	// nodes ignore it.
	ReconcileEvery time.Duration `mapstructure:"reconcile_every" yaml:"reconcile_every"`
}

// DefaultPriceMaxAge is how old a price input may be when the policy
// sets no price_max_age.
const DefaultPriceMaxAge = 5 * time.Minute

// DefaultHoldingsSnapshotEvery is the holdings snapshot schedule when the
// policy sets none.
const DefaultHoldingsSnapshotEvery = 12 * time.Hour

// DefaultReconcileEvery is the reconciliation schedule when the policy sets none.
const DefaultReconcileEvery = 12 * time.Hour

// OperatorKey is one operator's ed25519 public key (hex).
type OperatorKey struct {
	Name      string `mapstructure:"name" yaml:"name"`
	PublicKey string `mapstructure:"public_key" yaml:"public_key"`
}

// KeyConfig names a threshold key and its role.
type KeyConfig struct {
	ID   string  `mapstructure:"id" yaml:"id"`
	Role KeyRole `mapstructure:"role" yaml:"role"`
}

// Account is a custody account: which key (and child) holds it and where
// its collateral may go.
type Account struct {
	ID           string `mapstructure:"id" yaml:"id"`
	KeyID        string `mapstructure:"key_id" yaml:"key_id"`
	ChildPath    string `mapstructure:"child_path" yaml:"child_path"`
	OwnerAddress string `mapstructure:"owner_address" yaml:"owner_address"`
	// LiquidationAddress overrides the policy-wide one for this account.
	LiquidationAddress string `mapstructure:"liquidation_address" yaml:"liquidation_address"`
}

// Asset configures one asset.
type Asset struct {
	Symbol   string `mapstructure:"symbol" yaml:"symbol"`
	Decimals int    `mapstructure:"decimals" yaml:"decimals"`
	// MaxAmount caps one request, in base units (0: no request may move it).
	MaxAmount uint64 `mapstructure:"max_amount" yaml:"max_amount"`
	// MaxUnits, for an evm asset, caps one request in base units as a
	// decimal string, over MaxAmount (an 18-decimal token); it replaces
	// MaxAmount when set.
	MaxUnits string `mapstructure:"max_units" yaml:"max_units"`
	// CollateralFactorBps is the share of market value counted as
	// collateral: 9800 for tokenized MMF (a 2% haircut), 9500 for
	// stablecoins, 10000 for none. 0: the default of Class (CollateralFactor).
	CollateralFactorBps uint64 `mapstructure:"collateral_factor_bps" yaml:"collateral_factor_bps"`
	// Class is what the asset is: "" (unclassified), "stablecoin" or "mmf"
	// (tokenized money-market-fund shares); it sets the default valuation.
	Class AssetClass `mapstructure:"class" yaml:"class"`
	// Chain is where the asset lives: "" or "bitcoin", or "evm".
	Chain string `mapstructure:"chain" yaml:"chain"`
	// ChainID is the EVM chain ID (EIP-155) of an evm asset.
	ChainID uint64 `mapstructure:"chain_id" yaml:"chain_id"`
	// Contract is the ERC-20 contract of an evm asset (0x-hex); empty for
	// the chain's native coin (gas).
	Contract string `mapstructure:"contract" yaml:"contract"`
}

// AssetClass classifies an asset for its default valuation rate.
type AssetClass string

// Asset classes and their default collateral factors.
const (
	ClassStablecoin AssetClass = "stablecoin"
	ClassMMF        AssetClass = "mmf"

	DefaultStablecoinFactorBps = 9500 // a 5% haircut
	DefaultMMFFactorBps        = 9800 // a 2% haircut
)

// Asset chains.
const (
	ChainBitcoin = "bitcoin"
	ChainEVM     = "evm"
)

// Cap is the most one request may move of a, in base units: MaxUnits
// when set, else MaxAmount.
func (a Asset) Cap() *big.Int {
	if v, ok := new(big.Int).SetString(a.MaxUnits, 10); ok && a.MaxUnits != "" {
		return v
	}
	return new(big.Int).SetUint64(a.MaxAmount)
}

// CollateralFactor is the share of market value counted as collateral, in
// basis points: CollateralFactorBps when set, else the default of Class
// (0 for an unclassified asset, which then counts for nothing).
func (a Asset) CollateralFactor() uint64 {
	if a.CollateralFactorBps != 0 {
		return a.CollateralFactorBps
	}
	switch a.Class {
	case ClassStablecoin:
		return DefaultStablecoinFactorBps
	case ClassMMF:
		return DefaultMMFFactorBps
	}
	return 0
}

// Defaults of the caps that are not the pilot's settlement limits.
const (
	DefaultLiquidationBatchesPerDay = 288     // one every five minutes
	DefaultMaxFee                   = 1000000 // 0.01 BTC
	DefaultLiquidationBatchWindow   = 10 * time.Second
	DefaultLiquidationBatchMax      = 50
	// MaxBatchMembers bounds a liquidation batch: two outputs a member
	// (payment and change) stay within a standard transaction's outputs.
	MaxBatchMembers = 50
)

// DefaultPolicy returns the pilot's defaults for party; the caller adds
// keys, accounts, assets, operators and addresses.
func DefaultPolicy(party Party) Policy {
	return Policy{
		Party:                    party,
		SettlementsPerDay:        2,
		LiquidationBatchesPerDay: DefaultLiquidationBatchesPerDay,
		LiquidationBatchWindow:   DefaultLiquidationBatchWindow,
		LiquidationBatchMax:      DefaultLiquidationBatchMax,
		MaxFeeRate:               500,
		MaxFee:                   DefaultMaxFee,
		MaxLeverageBps:           20000,
		EvidenceMaxAge:           15 * time.Minute,
		ApprovalMaxTTL:           time.Hour,
		ClockSkew:                2 * time.Minute,
		NoticePeriod:             24 * time.Hour,
		UnfreezeLapse:            48 * time.Hour,
		MaxSigningAttempts:       3,
	}
}

// Validate checks every key and names the first bad one.
func (p Policy) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidPolicy, key, fmt.Sprintf(format, args...))
	}
	if !p.Party.Valid() {
		return bad("party", "want custodian, exchange or regulator, got %q", clip(p.Party))
	}
	for i, k := range p.AutoApprove {
		if k != KindRelease && k != KindLiquidation {
			return bad(fmt.Sprintf("auto_approve[%d]", i), "only collateral_release and liquidation can be automatic, got %q", clip(string(k)))
		}
	}
	for _, check := range []func(policyErr) error{p.validateLimits, p.validateTimes, p.validateSigners, p.validateLists, p.validatePrices} {
		if err := check(bad); err != nil {
			return err
		}
	}
	return nil
}

// policyErr builds an ErrInvalidPolicy naming the key.
type policyErr = func(key, format string, args ...any) error

// validateLimits checks the caps on amounts, fees and counts.
func (p Policy) validateLimits(bad policyErr) error {
	switch {
	case p.SettlementsPerDay < 0:
		return bad("settlements_per_day", "must not be negative")
	case p.LiquidationBatchesPerDay < 0:
		return bad("liquidation_batches_per_day", "must not be negative")
	case p.LiquidationBatchWindow < 0 || p.LiquidationBatchWindow > time.Hour:
		return bad("liquidation_batch_window", "must be 0 (the default, %s) .. 1h", DefaultLiquidationBatchWindow)
	case p.LiquidationBatchMax < 0 || p.LiquidationBatchMax > MaxBatchMembers:
		return bad("liquidation_batch_max", "must be 0 (the default, %d) .. %d", DefaultLiquidationBatchMax, MaxBatchMembers)
	case p.MaxFee > MaxAmount:
		return bad("max_fee", "must be 0 (the default, %d) .. %d satoshis", DefaultMaxFee, uint64(MaxAmount))
	case p.MaxFeeRate == 0 || p.MaxFeeRate > MaxFeeRate:
		return bad("max_fee_rate", "must be 1..%d", MaxFeeRate)
	case p.MaxLeverageBps < 10000:
		return bad("max_leverage_bps", "must be at least 10000 (1.00x)")
	}
	return nil
}

// validateTimes checks the durations (ages, skew, notice, lapse) and the
// attempts a request may spend.
func (p Policy) validateTimes(bad policyErr) error {
	switch {
	case p.EvidenceMaxAge <= 0:
		return bad("evidence_max_age", "must be positive")
	case p.ApprovalMaxTTL <= 0:
		return bad("approval_max_ttl", "must be positive")
	case p.ClockSkew < 0 || p.ClockSkew > time.Hour:
		return bad("clock_skew", "must be 0..1h")
	case p.NoticePeriod <= 0:
		return bad("notice_period", "must be positive")
	case p.CanaryNoticePeriod < 0 || p.CanaryNoticePeriod > p.NoticePeriod:
		return bad("canary_notice_period", "must be 0 (notice_period) .. notice_period (%s)", p.NoticePeriod)
	case p.CanaryNoticePeriod > 0 && !p.hasCanaryKey():
		return bad("canary_notice_period", "set, but no key has role canary")
	case p.UnfreezeLapse <= p.NoticePeriod:
		return bad("unfreeze_lapse", "must be longer than notice_period (%s)", p.NoticePeriod)
	case p.MaxSigningAttempts < 1:
		return bad("max_signing_attempts", "must be at least 1")
	case p.ReconcileEvery < 0 || p.ReconcileEvery > 7*24*time.Hour:
		return bad("reconcile_every", "must be 0 (twice a day) .. 168h")
	}
	return nil
}

// validateSigners checks the liquidation address, the margin-engine and
// operator keys.
func (p Policy) validateSigners(bad policyErr) error {
	if p.LiquidationAddress != "" {
		if err := checkAddress("", p.LiquidationAddress); err != nil {
			return bad("liquidation_address", "letters and digits only, at most %d", maxAddressLen)
		}
	}
	for i, k := range p.MarginEngineKeys {
		if _, err := parseKey(k); err != nil {
			return bad(fmt.Sprintf("margin_engine_keys[%d]", i), "%v", err)
		}
	}
	for party, ops := range p.Operators {
		if !party.Valid() {
			return bad("operators", "unknown party %q", clip(party))
		}
		names := map[string]bool{}
		for i, o := range ops {
			key := fmt.Sprintf("operators.%s[%d]", party, i)
			if checkIdent("", o.Name) != nil || names[o.Name] {
				return bad(key+".name", "must be a unique identifier")
			}
			names[o.Name] = true
			if _, err := parseKey(o.PublicKey); err != nil {
				return bad(key+".public_key", "%v", err)
			}
		}
	}
	for _, party := range Parties {
		if len(p.Operators[party]) == 0 {
			return bad("operators."+string(party), "every party needs at least one operator key")
		}
	}
	return nil
}

func (p Policy) validatePrices(bad policyErr) error {
	for i, k := range p.PriceKeys {
		if _, err := parseKey(k); err != nil {
			return bad(fmt.Sprintf("price_keys[%d]", i), "%v", err)
		}
	}
	if p.PriceMaxAge < 0 || p.PriceMaxAge > 24*time.Hour {
		return bad("price_max_age", "must be 0 (the default, %s) .. 24h", DefaultPriceMaxAge)
	}
	if e := p.HoldingsSnapshotEvery; e != 0 && (e < time.Minute || e > 7*24*time.Hour) {
		return bad("holdings_snapshot_every", "must be 0 (the default, %s) or 1m .. 168h", DefaultHoldingsSnapshotEvery)
	}
	return nil
}

// SnapshotEvery is HoldingsSnapshotEvery, or its default.
func (p Policy) SnapshotEvery() time.Duration {
	if p.HoldingsSnapshotEvery == 0 {
		return DefaultHoldingsSnapshotEvery
	}
	return p.HoldingsSnapshotEvery
}

// PriceKeysParsed returns the price input keys (PriceKeys).
func (p Policy) PriceKeysParsed() []ed25519.PublicKey {
	var out []ed25519.PublicKey
	for _, s := range p.PriceKeys {
		if k, err := parseKey(s); err == nil {
			out = append(out, k)
		}
	}
	return out
}

// PriceAge is PriceMaxAge, or its default.
func (p Policy) PriceAge() time.Duration {
	if p.PriceMaxAge == 0 {
		return DefaultPriceMaxAge
	}
	return p.PriceMaxAge
}

// KeyRoleOf returns the role the policy gives key id.
func (p Policy) KeyRoleOf(id string) (KeyRole, bool) { return p.keyRole(id) }

// KeygenRule is this policy's answer to a node asked to generate keyID
// (node.Options.KeygenRule): the key's role, whether its keygen needs two
// parties' operator approvals (custody and attestation keys: ../shared/SECURITY.md
// ../shared/SECURITY.md scenario 31; a canary key needs none), and false when keyID is no key
// of this policy.
func (p Policy) KeygenRule(keyID string) (role string, approvals, ok bool) {
	r, ok := p.keyRole(keyID)
	return string(r), r != RoleCanary, ok
}

// OperatorPublicKey is the ed25519 public key of party's operator name,
// who may approve a keygen or a reshare (reshare.Options.Operators);
// false when the policy lists no such operator or its key is malformed.
func (p Policy) OperatorPublicKey(party, name string) (ed25519.PublicKey, bool) {
	var key ed25519.PublicKey
	for _, op := range p.Operators[Party(party)] {
		if op.Name == name {
			if b, err := hex.DecodeString(op.PublicKey); err == nil && len(b) == ed25519.PublicKeySize {
				key = b
			}
		}
	}
	return key, key != nil
}

// AssetBySymbol returns the configured asset sym.
func (p Policy) AssetBySymbol(sym string) (Asset, bool) { return p.asset(sym) }

func (p Policy) validateLists(bad policyErr) error {
	keys := map[string]bool{}
	for i, k := range p.Keys {
		if checkIdent("", k.ID) != nil || keys[k.ID] {
			return bad(fmt.Sprintf("keys[%d].id", i), "must be a unique identifier")
		}
		keys[k.ID] = true
		if !k.Role.Valid() {
			return bad(fmt.Sprintf("keys[%d].role", i), "want custody, canary or attestation, got %q", clip(string(k.Role)))
		}
	}
	accts := map[string]bool{}
	for i, a := range p.Accounts {
		key := fmt.Sprintf("accounts[%d]", i)
		if checkIdent("", a.ID) != nil || accts[a.ID] {
			return bad(key+".id", "must be a unique identifier")
		}
		accts[a.ID] = true
		// A canary account (on a canary key) serves the unfreeze drill
		// only: Evaluate refuses every other kind on it.
		if r, ok := p.keyRole(a.KeyID); !ok || (r != RoleCustody && r != RoleCanary) {
			return bad(key+".key_id", "must name a key with role custody (or canary, for the unfreeze drill)")
		}
		if a.ChildPath != "" {
			if _, err := ParseChildPath(a.ChildPath); err != nil {
				return bad(key+".child_path", "%v", err)
			}
		}
		if checkAddress("", a.OwnerAddress) != nil {
			return bad(key+".owner_address", "letters and digits only, at most %d", maxAddressLen)
		}
		if a.LiquidationAddress != "" && checkAddress("", a.LiquidationAddress) != nil {
			return bad(key+".liquidation_address", "letters and digits only, at most %d", maxAddressLen)
		}
	}
	return p.validateAssets(bad)
}

func (p Policy) validateAssets(bad func(key, format string, args ...any) error) error {
	assets := map[string]bool{}
	for i, a := range p.Assets {
		key := fmt.Sprintf("assets[%d]", i)
		if checkAsset("", a.Symbol) != nil || assets[a.Symbol] {
			return bad(key+".symbol", "must be a unique upper-case symbol")
		}
		assets[a.Symbol] = true
		switch {
		case a.Decimals < 0 || a.Decimals > 18:
			return bad(key+".decimals", "must be 0..18")
		case a.MaxAmount > MaxAmount:
			return bad(key+".max_amount", "must be at most %d", uint64(MaxAmount))
		case a.MaxUnits != "" && (a.Chain != ChainEVM || checkWei("", a.MaxUnits) != nil):
			return bad(key+".max_units", "a decimal integer of base units, for an evm asset only")
		case a.CollateralFactorBps > 10000:
			return bad(key+".collateral_factor_bps", "must be at most 10000 (100%%)")
		case a.Class != "" && a.Class != ClassStablecoin && a.Class != ClassMMF:
			return bad(key+".class", "want stablecoin, mmf or nothing, got %q", clip(string(a.Class)))
		}
		if err := a.validateChain(); err != nil {
			return bad(key+"."+err.key, "%s", err.msg)
		}
	}
	return nil
}

type assetErr struct{ key, msg string }

// validateChain checks chain, chain_id and contract; an EVM contract's
// checksum is checked by custody/evm, which owns Ethereum's encodings.
func (a Asset) validateChain() *assetErr {
	switch a.Chain {
	case "", ChainBitcoin:
		if a.ChainID != 0 || a.Contract != "" {
			return &assetErr{"chain", "chain_id and contract are for chain evm only"}
		}
	case ChainEVM:
		if a.ChainID == 0 {
			return &assetErr{"chain_id", "an evm asset needs its chain ID"}
		}
		if a.Contract != "" && !isHexAddress(a.Contract) {
			return &assetErr{"contract", "want a 0x-prefixed 20-byte hex address (empty: the native coin)"}
		}
	default:
		return &assetErr{"chain", fmt.Sprintf("want bitcoin or evm, got %q", clip(a.Chain))}
	}
	return nil
}

func isHexAddress(s string) bool {
	if len(s) != 42 || s[:2] != "0x" {
		return false
	}
	_, err := hex.DecodeString(s[2:])
	return err == nil
}

func parseKey(s string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("want %d hex characters of an ed25519 public key", 2*ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

func (p Policy) operatorKey(party Party, name string) (ed25519.PublicKey, bool) {
	for _, o := range p.Operators[party] {
		if o.Name == name {
			k, err := parseKey(o.PublicKey)
			return k, err == nil
		}
	}
	return nil, false
}

func (p Policy) hasCanaryKey() bool {
	for _, k := range p.Keys {
		if k.Role == RoleCanary {
			return true
		}
	}
	return false
}

// NoticeFor is the notice period of an emergency unfreeze on keyID:
// CanaryNoticePeriod for a canary key when set, else NoticePeriod.
func (p Policy) NoticeFor(keyID string) time.Duration {
	if r, ok := p.keyRole(keyID); ok && r == RoleCanary && p.CanaryNoticePeriod > 0 {
		return p.CanaryNoticePeriod
	}
	return p.NoticePeriod
}

func (p Policy) marginKeys() []ed25519.PublicKey {
	var out []ed25519.PublicKey
	for _, s := range p.MarginEngineKeys {
		if k, err := parseKey(s); err == nil {
			out = append(out, k)
		}
	}
	return out
}

func (p Policy) keyRole(id string) (KeyRole, bool) {
	for _, k := range p.Keys {
		if k.ID == id {
			return k.Role, true
		}
	}
	return "", false
}

func (p Policy) account(id string) (Account, bool) {
	for _, a := range p.Accounts {
		if a.ID == id {
			return a, true
		}
	}
	return Account{}, false
}

func (p Policy) asset(sym string) (Asset, bool) {
	for _, a := range p.Assets {
		if a.Symbol == sym {
			return a, true
		}
	}
	return Asset{}, false
}

func (p Policy) autoApproves(k Kind) bool {
	for _, x := range p.AutoApprove {
		if x == k {
			return true
		}
	}
	return false
}

// CountsTowardCap reports whether beginning to sign req counts against a
// daily cap (CapOf): every fund-moving request except one on a canary key
// (the unfreeze drill), so drills never use up a day's settlements.
func (p Policy) CountsTowardCap(req Request) bool {
	r, ok := p.keyRole(req.KeyID)
	return req.Kind.MovesFunds() && !(ok && r == RoleCanary)
}

// CapLiquidation is the cap class of liquidation settlements; the other
// fund-moving kinds share the class "" (SettlementsPerDay).
const CapLiquidation = "liquidation_batch"

// CapOf returns the daily cap req counts against: its class (the key
// suffix of State.Settlements, CapKey) and the limit.
func (p Policy) CapOf(req Request) (class string, limit int) {
	if req.Kind == KindLiquidation {
		if p.LiquidationBatchesPerDay == 0 {
			return CapLiquidation, DefaultLiquidationBatchesPerDay
		}
		return CapLiquidation, p.LiquidationBatchesPerDay
	}
	return "", p.SettlementsPerDay
}

// BatchWindow is LiquidationBatchWindow, or its default.
func (p Policy) BatchWindow() time.Duration {
	if p.LiquidationBatchWindow == 0 {
		return DefaultLiquidationBatchWindow
	}
	return p.LiquidationBatchWindow
}

// BatchMax is LiquidationBatchMax, or its default.
func (p Policy) BatchMax() int {
	if p.LiquidationBatchMax == 0 {
		return DefaultLiquidationBatchMax
	}
	return p.LiquidationBatchMax
}

// FeeCap is the absolute fee one transaction may pay (MaxFee, or its
// default).
func (p Policy) FeeCap() uint64 {
	if p.MaxFee == 0 {
		return DefaultMaxFee
	}
	return p.MaxFee
}

// CheckRawDigest is the guard of the raw-digest admin signing path: every
// node calls it before signing a digest it did not build itself, and it
// refuses any key that is not configured as a canary key.
func CheckRawDigest(p Policy, keyID string) error {
	if r, ok := p.keyRole(keyID); !ok || r != RoleCanary {
		return fmt.Errorf("raw-digest signing with key %q: %w: not a canary key", clip(keyID), ErrRawDigestRefused)
	}
	return nil
}
