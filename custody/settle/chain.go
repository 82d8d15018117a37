package settle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
)

// Chain is what settlement needs of this node's Bitcoin node; *btc.Client
// implements it.
type Chain interface {
	ListUnspent(ctx context.Context, address string, minConf int64) ([]btc.Unspent, error)
	Broadcast(ctx context.Context, tx *wire.MsgTx) (*chainhash.Hash, error)
	Confirmations(ctx context.Context, txid *chainhash.Hash) (int64, error)
}

var _ Chain = (*btc.Client)(nil)

// ChainConfig is a node's bitcoin section (node.BitcoinConfig): the
// password is read from the environment variable PassEnv, never from the
// file.
type ChainConfig struct {
	Network string
	Host    string
	User    string
	PassEnv string
	Timeout time.Duration
}

// Dial returns a client for cfg, or nil and no error when no RPC host is
// configured. getenv is os.Getenv when nil.
func Dial(cfg ChainConfig, getenv func(string) string) (*btc.Client, error) {
	if cfg.Host == "" {
		return nil, nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if cfg.PassEnv == "" || getenv(cfg.PassEnv) == "" {
		return nil, fmt.Errorf("settle: bitcoin.rpc_pass_env: %w: set it to a non-empty environment variable", ErrNoChain)
	}
	return btc.NewClient(btc.ClientConfig{Host: cfg.Host, User: cfg.User, Pass: getenv(cfg.PassEnv), Network: cfg.Network, Timeout: cfg.Timeout})
}

// FillInputs returns draft with the coins it will spend, chosen from this
// node's Bitcoin node when the draft names none: the account's confirmed
// coins (MinConf), largest first, as few as pay the amount and the fee at
// the draft's fee rate. The node that accepts a request calls it before
// storing the request, so the coins become part of what every party
// approves. A draft that names its coins is returned unchanged.
func (s *Settler) FillInputs(ctx context.Context, draft custody.Request) (custody.Request, error) {
	if len(draft.Inputs) > 0 || draft.Kind == custody.KindCanary {
		return draft, nil
	}
	if _, err := actionOf(draft.Kind); err != nil {
		return draft, err
	}
	if s.cfg.Chain == nil {
		return draft, fmt.Errorf("choosing coins: %w", ErrNoChain)
	}
	acct, ok := account(s.cfg.Policy, draft.Account)
	if !ok {
		return draft, fmt.Errorf("choosing coins: %w: account %q is not configured here", ErrPolicy, draft.Account)
	}
	if draft.KeyID == "" {
		draft.KeyID, draft.ChildPath = acct.KeyID, acct.ChildPath
	}
	source, err := s.Address(ctx, acct.KeyID, acct.ChildPath)
	if err != nil {
		return draft, fmt.Errorf("choosing coins: %w", err)
	}
	coins, err := s.cfg.Chain.ListUnspent(ctx, source, s.cfg.MinConf)
	if err != nil {
		return draft, fmt.Errorf("choosing coins of %s: %w", source, err)
	}
	sort.SliceStable(coins, func(i, j int) bool { return coins[i].Value > coins[j].Value })
	if len(coins) > custody.MaxRequestInputs {
		coins = coins[:custody.MaxRequestInputs]
	}
	var lastErr error = fmt.Errorf("%w: %s has no coin with %d confirmations", ErrNoInputs, source, s.cfg.MinConf)
	for n := 1; n <= len(coins); n++ {
		try := draft
		try.Inputs = make([]custody.Input, n)
		for i, c := range coins[:n] {
			try.Inputs[i] = custody.Input{TxID: c.OutPoint.Hash.String(), Vout: c.OutPoint.Index, Value: uint64(c.Value)}
		}
		_, err := s.plan(ctx, try.Normalize())
		if err == nil {
			return try, nil
		}
		if !errors.Is(err, btc.ErrInsufficientFunds) {
			return draft, fmt.Errorf("choosing coins: %w", err)
		}
		lastErr = err
	}
	return draft, fmt.Errorf("choosing coins of %s: %w", source, lastErr)
}
