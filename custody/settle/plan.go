package settle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/tss"
)

// Asset is the asset symbol this package settles.
const Asset = "BTC"

// KeyLoader loads this node's key shares, for their public keys only;
// *keystore.Store implements it.
type KeyLoader interface {
	Load(ctx context.Context, keyID string) (*tss.KeyShare, error)
}

// Config configures a Settler. Network, Policy and Keys are required.
type Config struct {
	// Network is the Bitcoin network of every address (btc.Networks).
	Network string
	// Policy is this node's own policy: accounts, addresses, fee ceiling.
	Policy custody.Policy
	// Keys is this node's key store.
	Keys KeyLoader
	// Chain is this node's Bitcoin node (optional): coin lookup, broadcast,
	// confirmations.
	Chain Chain
	// Broadcast sends finalised transactions to Chain.
	Broadcast bool
	// MinConf is the confirmations a coin needs before ChooseInputs picks
	// it and CheckInputs accepts it (default 1).
	MinConf int64
	// Records keeps what happened to each settlement (optional).
	Records Recorder
	// KeyTimeout bounds loading a key share (default 10s).
	KeyTimeout time.Duration
	Logger     *slog.Logger
	// Now is the clock of records (default time.Now).
	Now func() time.Time
}

// Settler turns this node's typed requests into Bitcoin transactions. It
// is safe for concurrent use.
type Settler struct {
	cfg     Config
	log     *slog.Logger
	batchMu sync.Mutex // one SettleBatch at a time: every member's result settles the same batch
	plans   batchPlans // the last batches' plans (batch.go)
	confs   confMemo   // the last answers about batch transactions (batch.go)
}

// New validates cfg and returns a Settler. It does not contact the chain.
func New(cfg Config) (*Settler, error) {
	if _, err := btc.NetParams(cfg.Network); err != nil {
		return nil, fmt.Errorf("settle: %w", err)
	}
	if cfg.Keys == nil {
		return nil, fmt.Errorf("settle: %w: no key store", ErrKey)
	}
	if cfg.Broadcast && cfg.Chain == nil {
		return nil, fmt.Errorf("settle: broadcast: %w", ErrNoChain)
	}
	if cfg.MinConf <= 0 {
		cfg.MinConf = 1
	}
	if cfg.KeyTimeout <= 0 {
		cfg.KeyTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Settler{cfg: cfg, log: cfg.Logger.With("component", "settle", "party", cfg.Policy.Party)}, nil
}

// Network is the Bitcoin network this settler builds for.
func (s *Settler) Network() string { return s.cfg.Network }

// Chain is this node's Bitcoin node, nil without one.
func (s *Settler) Chain() Chain { return s.cfg.Chain }

// Plan is everything a request settles as, built by this node alone from
// the typed request, its own policy and its own key share.
type Plan struct {
	RequestID string
	Kind      custody.Kind
	// Spend is the typed transaction (btc.Build builds Tx from it; btc.Check
	// compares a peer's transaction with it).
	Spend btc.Spend
	// Tx is the canonical unsigned transaction; its txid is final (witnesses
	// do not change it).
	Tx *wire.MsgTx
	// Digests are the BIP143 sighashes, one per input of Tx, in order.
	Digests [][32]byte
	// Key is the (child) public key every input is locked to; Source its
	// P2WPKH address, which also receives the change.
	Key    *btcec.PublicKey
	Source string
	Fee    int64
	VSize  int64
}

// TxID is the transaction's id.
func (p *Plan) TxID() chainhash.Hash { return p.Tx.TxHash() }

// Plan builds req's transaction the way this node would sign it:
//
//   - the account, key and child path come from this node's policy, and
//     the request must name the same;
//   - the destination must be the one this node's policy allows for the
//     kind (owner address, or liquidation address);
//   - the inputs are the request's coins, locked to the account's
//     (child) key, which this node derives from its own share's group key;
//   - one output pays the amount to the destination; change goes back to
//     the account's own custody address;
//   - the fee follows the request's fee rate, and the transaction's
//     effective fee rate may not exceed the policy's max_fee_rate, nor its
//     fee the policy's max_fee.
//
// Plan takes the input values from the plan (req.Inputs); CheckInputs
// holds them against this node's own Bitcoin node.
func (s *Settler) Plan(ctx context.Context, req custody.Request) (*Plan, error) {
	p, err := s.plan(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("settling %.12s: %w", req.ID(), err)
	}
	return p, nil
}

func (s *Settler) plan(ctx context.Context, req custody.Request) (*Plan, error) {
	action, err := actionOf(req.Kind)
	if err != nil {
		return nil, err
	}
	if req.Asset != Asset {
		return nil, fmt.Errorf("%w: asset %q", ErrNotSettled, req.Asset)
	}
	pol := s.cfg.Policy
	acct, ok := account(pol, req.Account)
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: account %q is not configured here", ErrPolicy, req.Account)
	case acct.KeyID != req.KeyID || acct.ChildPath != req.ChildPath:
		return nil, fmt.Errorf("%w: account %s is held by key %s path %q, the request names %s %q",
			ErrPolicy, acct.ID, acct.KeyID, acct.ChildPath, req.KeyID, req.ChildPath)
	case req.Destination != destination(pol, acct, req.Kind):
		return nil, fmt.Errorf("%w: destination %s is not the %s address this node allows", ErrPolicy, req.Destination, req.Kind)
	case req.FeeRate == 0 || req.FeeRate > pol.MaxFeeRate:
		return nil, fmt.Errorf("%w: fee rate %d sat/vB outside 1..%d", ErrPolicy, req.FeeRate, pol.MaxFeeRate)
	case req.Amount == 0 || req.Amount > btcutil.MaxSatoshi:
		return nil, fmt.Errorf("%w: amount %d", ErrPolicy, req.Amount)
	case len(req.Inputs) == 0:
		return nil, fmt.Errorf("%w: the request names no coins", ErrNoInputs)
	}
	key, err := s.accountKey(ctx, req.KeyID, req.ChildPath)
	if err != nil {
		return nil, err
	}
	source, err := btc.CustodyAddress(key, s.cfg.Network)
	if err != nil {
		return nil, err
	}
	script, err := btc.P2WPKHScript(key)
	if err != nil {
		return nil, err
	}
	inputs := make([]btc.UTXO, len(req.Inputs))
	for i, in := range req.Inputs {
		h, err := chainhash.NewHashFromStr(in.TxID)
		if err != nil {
			return nil, fmt.Errorf("%w: input %d: %v", btc.ErrBadInput, i, err)
		}
		inputs[i] = btc.UTXO{OutPoint: wire.OutPoint{Hash: *h, Index: in.Vout}, Value: int64(in.Value), PkScript: script}
	}
	spend := btc.Spend{
		Action: action, Network: s.cfg.Network, Inputs: inputs,
		Outputs:       []btc.Output{{Address: req.Destination, Amount: int64(req.Amount)}},
		ChangeAddress: source.String(), FeeRate: int64(req.FeeRate), MaxFee: btcutil.MaxSatoshi,
	}
	// The ceiling is the policy's fee rate over the transaction's own
	// size: build once to know the size, then again under the ceiling.
	tx, err := btc.Build(spend)
	if err != nil {
		return nil, err
	}
	vsize := btc.EstimateVSize(tx)
	spend.MaxFee = int64(pol.MaxFeeRate) * vsize
	if tx, err = btc.Build(spend); err != nil {
		return nil, err
	}
	if err := btc.Check(tx, spend); err != nil { // the build is its own first reader
		return nil, err
	}
	digests, err := btc.SigHashes(tx, spend.Inputs)
	if err != nil {
		return nil, err
	}
	fee, err := btc.Fee(tx, spend.Inputs)
	if err != nil {
		return nil, err
	}
	if uint64(fee) > pol.FeeCap() {
		return nil, fmt.Errorf("%w: fee %d sat over this node's max_fee %d", ErrPolicy, fee, pol.FeeCap())
	}
	return &Plan{RequestID: req.ID(), Kind: req.Kind, Spend: spend, Tx: tx, Digests: digests,
		Key: key, Source: source.String(), Fee: fee, VSize: vsize}, nil
}

// Digests is the request's BIP143 sighashes, one per input in transaction
// order: what each threshold signature signs.
func (s *Settler) Digests(ctx context.Context, req custody.Request) ([][32]byte, error) {
	p, err := s.Plan(ctx, req)
	if err != nil {
		return nil, err
	}
	return p.Digests, nil
}

// Address returns the custody address of keyID (child path "" for the
// group key itself), as this node derives it from its own share.
func (s *Settler) Address(ctx context.Context, keyID, childPath string) (string, error) {
	key, err := s.accountKey(ctx, keyID, childPath)
	if err != nil {
		return "", err
	}
	a, err := btc.CustodyAddress(key, s.cfg.Network)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

// accountKey is the group key of keyID from this node's share, derived
// along childPath.
func (s *Settler) accountKey(ctx context.Context, keyID, childPath string) (*btcec.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.KeyTimeout)
	defer cancel()
	share, err := s.cfg.Keys.Load(ctx, keyID)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKey, keyID, err)
	}
	pub, err := share.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKey, keyID, err)
	}
	return DeriveAddressKey(pub, childPath)
}

// DeriveAddressKey derives the BIP32 non-hardened child of a group key
// along path ("" or "m": the group key), with the chain code every node
// computes from the group key: tss.ChildKey, the one derivation.
func DeriveAddressKey(group *btcec.PublicKey, path string) (*btcec.PublicKey, error) {
	child, _, err := tss.ChildKey(group, path)
	return child, err
}

func actionOf(k custody.Kind) (btc.Action, error) {
	switch k {
	case custody.KindRelease:
		return btc.ActionRelease, nil
	case custody.KindLiquidation:
		return btc.ActionLiquidation, nil
	case custody.KindUnfreeze:
		return btc.ActionUnfreeze, nil
	}
	return "", fmt.Errorf("%w: kind %q", ErrNotSettled, k)
}

func account(p custody.Policy, id string) (custody.Account, bool) {
	for _, a := range p.Accounts {
		if a.ID == id {
			return a, true
		}
	}
	return custody.Account{}, false
}

// destination is the only address policy lets kind pay from acct.
func destination(p custody.Policy, acct custody.Account, k custody.Kind) string {
	if k == custody.KindLiquidation {
		if acct.LiquidationAddress != "" {
			return acct.LiquidationAddress
		}
		return p.LiquidationAddress
	}
	return acct.OwnerAddress
}
