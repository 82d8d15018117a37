package settle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
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
	TxOut(ctx context.Context, op wire.OutPoint) (*btc.TxOut, error)
	Broadcast(ctx context.Context, tx *wire.MsgTx) (*chainhash.Hash, error)
	Confirmations(ctx context.Context, txid *chainhash.Hash) (int64, error)
}

var _ Chain = (*btc.Client)(nil)

// ChainConfig is a node's bitcoin section (BitcoinConfig): the
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

// ChooseInputs picks the coins that pay req from this node's Bitcoin node:
// the account's confirmed coins (MinConf) that no other request holds
// (reserved reports which of the candidates are held: store.Reserved for
// this request), largest first, as few as pay the amount and the fee at the
// request's fee rate. It returns req with them (its plan); the caller
// reserves them (store.Reserve) before signing.
func (s *Settler) ChooseInputs(ctx context.Context, req custody.Request, reserved func([]custody.Input) ([]custody.Input, error)) (custody.Request, error) {
	if _, err := actionOf(req.Kind); err != nil {
		return req, err
	}
	if s.cfg.Chain == nil {
		return req, fmt.Errorf("choosing coins: %w: this node signs no spend", ErrNoChain)
	}
	acct, ok := account(s.cfg.Policy, req.Account)
	if !ok {
		return req, fmt.Errorf("choosing coins: %w: account %q is not configured here", ErrPolicy, req.Account)
	}
	source, err := s.Address(ctx, acct.KeyID, acct.ChildPath)
	if err != nil {
		return req, fmt.Errorf("choosing coins: %w", err)
	}
	unspent, err := s.cfg.Chain.ListUnspent(ctx, source, s.cfg.MinConf)
	if err != nil {
		return req, fmt.Errorf("choosing coins of %s: %w", source, err)
	}
	coins := make([]custody.Input, 0, len(unspent))
	for _, c := range unspent {
		coins = append(coins, custody.Input{TxID: c.OutPoint.Hash.String(), Vout: c.OutPoint.Index, Value: uint64(c.Value)})
	}
	if reserved != nil {
		taken, err := reserved(coins)
		if err != nil {
			return req, fmt.Errorf("choosing coins of %s: %w", source, err)
		}
		coins = slices.DeleteFunc(coins, func(c custody.Input) bool { return slices.Contains(taken, c) })
	}
	sort.SliceStable(coins, func(i, j int) bool { return coins[i].Value > coins[j].Value })
	if len(coins) > custody.MaxRequestInputs {
		coins = coins[:custody.MaxRequestInputs]
	}
	var lastErr error = fmt.Errorf("%w: %s has no free coin with %d confirmations", ErrNoInputs, source, s.cfg.MinConf)
	for n := 1; n <= len(coins); n++ {
		try := req.WithInputs(slices.Clone(coins[:n]))
		_, err := s.plan(ctx, try.Normalize())
		if err == nil {
			return try, nil
		}
		if !errors.Is(err, btc.ErrInsufficientFunds) {
			return req, fmt.Errorf("choosing coins: %w", err)
		}
		lastErr = err
	}
	return req, fmt.Errorf("choosing coins of %s: %w", source, lastErr)
}

// Pays reports whether req is paid by a Bitcoin transaction, and so needs
// a plan (ChooseInputs) that every signer checks (CheckInputs): every
// Bitcoin transfer, except an unfreeze drill on a canary key at a node
// without a Bitcoin node, which signs the request's interim digest.
func (s *Settler) Pays(req custody.Request) bool {
	if _, err := actionOf(req.Kind); err != nil || req.Asset != Asset {
		return false
	}
	return s.cfg.Chain != nil || custody.CheckRawDigest(s.cfg.Policy, req.KeyID) != nil
}

// CheckInputs looks up every input of req's plan on this node's own
// Bitcoin node and refuses any that is not exactly what the plan says:
// unknown or spent, another value, locked to another script than the
// account's own (which this node derives from its share), fewer than
// MinConf confirmations, or an immature coinbase. A node without a
// Bitcoin node signs no spend (ErrNoChain). With the values checked, the
// fee Plan computes from them is this node's own figure.
func (s *Settler) CheckInputs(ctx context.Context, req custody.Request) error {
	if s.cfg.Chain == nil {
		return fmt.Errorf("checking the coins of %.12s: %w: this node signs no spend", req.ID(), ErrNoChain)
	}
	p, err := s.Plan(ctx, req)
	if err != nil {
		return err
	}
	for i, in := range p.Spend.Inputs {
		out, err := s.cfg.Chain.TxOut(ctx, in.OutPoint)
		bad := func(format string, a ...any) error {
			return fmt.Errorf("checking input %d (%v) of %.12s: %w: %s", i, in.OutPoint, req.ID(), ErrInputMismatch, fmt.Sprintf(format, a...))
		}
		switch {
		case errors.Is(err, btc.ErrNotFound):
			return bad("not an unspent output on this node's bitcoin node")
		case err != nil:
			return fmt.Errorf("checking input %d of %.12s: %w", i, req.ID(), err)
		case out.Value != in.Value:
			return bad("value %d sat, the plan says %d", out.Value, in.Value)
		case !bytes.Equal(out.PkScript, in.PkScript):
			return bad("locked to another script than account %s's", req.Account)
		case out.Confirmations < s.cfg.MinConf:
			return bad("%d confirmation(s), %d required", out.Confirmations, s.cfg.MinConf)
		case !out.Mature:
			return bad("immature coinbase")
		}
	}
	return nil
}
