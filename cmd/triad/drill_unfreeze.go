package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/node/api"
	"github.com/triad-custody/triad/tss"
)

// The unfreeze drill: a full emergency unfreeze of a canary account
// through the custody API, exactly as on the worst day except for the
// notice period, which every node's policy shortens for canary keys only
// (canary_notice_period). Opened by one party's operator, approved by a
// second party's operator at its own node, the notice waited out on every
// node's own clocks, signed by the pair. With a Bitcoin node configured
// the request spends the canary account's coins on regtest; without one
// it signs a canary digest (service.CanaryDigester).

// operatorArg is one --operator-key PARTY:NAME:FILE.
type operatorArg struct{ party, name, file string }

func parseOperatorArgs(args []string) ([]operatorArg, error) {
	var out []operatorArg
	seen := map[string]bool{}
	for _, a := range args {
		f := strings.SplitN(a, ":", 3)
		if len(f) != 3 || !custody.Party(f[0]).Valid() || f[1] == "" || f[2] == "" {
			return nil, userErr("--operator-key %q: want PARTY:NAME:FILE", a)
		}
		if seen[f[0]] {
			return nil, userErr("--operator-key: %s given twice; the drill needs two different parties", f[0])
		}
		seen[f[0]] = true
		out = append(out, operatorArg{party: f[0], name: f[1], file: f[2]})
	}
	if len(out) != 2 {
		return nil, userErr("give --operator-key twice, for two parties: the first opens the unfreeze, the second approves it")
	}
	return out, nil
}

type unfreezeFlags struct {
	drillFlags
	account   string
	asset     string
	amount    uint64
	feeRate   uint64
	operators []string
	maxNotice time.Duration
	timeout   time.Duration
}

func newDrillUnfreezeCmd() *cobra.Command {
	var f unfreezeFlags
	c := &cobra.Command{
		Use:   "unfreeze --key-id K --operator-key PARTY:NAME:FILE --operator-key PARTY:NAME:FILE -c CONFIG...",
		Short: "A full emergency unfreeze on a canary key with the policy's shortened canary notice period",
		Long: `Runs an emergency unfreeze of a canary account through the custody API: the first
--operator-key's party opens it (its operator signs the opening approval), the
second party's operator approves it at its own node, every node waits out the
notice period on its own clocks, and the pair signs. Production is untouched: the
key must be a canary key in every node's policy, and only canary keys get the
shortened canary_notice_period (which every node's policy must set; custody keys
always wait notice_period). With a Bitcoin node configured the unfreeze spends the
canary account's coins on regtest; without one it signs a canary digest.

Operator key files are read here and never sent or printed. The nodes need an
operator credential (role operator, token_file) in their configs.

  triad drill unfreeze --key-id canary-1 --account canary-acct \
      --operator-key custodian:alice:alice.key --operator-key exchange:bob:bob.key \
      -c custodian.yaml -c exchange.yaml -c regulator.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.keyID == "" {
				return userErr("--key-id is required")
			}
			ops, err := parseOperatorArgs(f.operators)
			if err != nil {
				return err
			}
			dr, err := newDrill(cmd.OutOrStdout(), &f.drillFlags, "unfreeze")
			if err != nil {
				return err
			}
			u := &unfreezeDrill{drill: dr, f: &f, ops: ops}
			return u.run()
		},
	}
	f.register(c)
	fl := c.Flags()
	fl.StringVar(&f.account, "account", "", "canary account to unfreeze (default: the first account on --key-id)")
	fl.StringVar(&f.asset, "asset", "BTC", "asset symbol")
	fl.Uint64Var(&f.amount, "amount", 1000, "amount in base units")
	fl.Uint64Var(&f.feeRate, "fee-rate", 1, "fee rate in sat/vB")
	fl.StringArrayVar(&f.operators, "operator-key", nil, "PARTY:NAME:FILE of an operator (twice: opener, then approver)")
	fl.DurationVar(&f.maxNotice, "max-notice", 10*time.Minute, "refuse to run if a node's canary notice period is longer")
	fl.DurationVar(&f.timeout, "timeout", 0, "bound on the whole unfreeze (default: the notice period + 2m)")
	return c
}

type unfreezeDrill struct {
	*drill
	f      *unfreezeFlags
	ops    []operatorArg
	notice time.Duration
	reqID  string // the unfreeze request's ID
	view   service.View
}

func (u *unfreezeDrill) run() error {
	opener, approver := u.ops[0].party, u.ops[1].party
	for _, p := range []string{opener, approver} {
		if _, ok := u.clients[p]; !ok {
			return fmt.Errorf("%s's API is not reachable: the drill could not run", p)
		}
	}
	draft, err := u.draft(opener)
	if err != nil {
		return err
	}
	u.d.Param("opener", opener)
	u.d.Param("approver", approver)
	u.d.Param("account", draft.Account)
	u.d.Param("notice", u.notice.String())
	timeout := u.f.timeout
	if timeout <= 0 {
		timeout = u.notice + 2*time.Minute
	}
	ctx, cancel := withTimeout(timeout)
	defer cancel()
	ok := u.step(fmt.Sprintf("%s opens an emergency unfreeze of %s, signed by %s/%s", opener, draft.Account, opener, u.ops[0].name), func() (string, error) {
		return u.open(ctx, draft)
	})
	ok = ok && u.step(fmt.Sprintf("%s/%s approves at the %s node", approver, u.ops[1].name, approver), func() (string, error) {
		return u.approve(ctx)
	})
	ok = ok && u.step(fmt.Sprintf("the %s notice period runs out; %s+%s sign", u.notice, opener, approver), func() (string, error) {
		return u.await(ctx)
	})
	ok = ok && u.step("the signature verifies under the canary key", func() (string, error) {
		return u.verify(ctx)
	})
	if ok && len(u.view.Request.Inputs) > 0 {
		ok = u.step("the coordinator's transaction reaches the regtest node", func() (string, error) {
			return u.broadcast(ctx)
		})
	}
	if ok {
		for _, p := range drillParties {
			if _, reachable := u.clients[p]; !reachable {
				continue
			}
			u.step(p+" records the unfreeze signed", func() (string, error) { return u.done(ctx, p) })
		}
	}
	return u.finish(drillParties)
}

// draft builds the request from the opener's policy, and reads every
// node's notice period for the key: the drill runs only where each node
// shortens it.
func (u *unfreezeDrill) draft(opener string) (custody.Request, error) {
	pol := u.cfgs[opener].Policy
	var acct custody.Account
	for _, a := range pol.Accounts {
		if (u.f.account == "" && a.KeyID == u.f.keyID) || (u.f.account != "" && a.ID == u.f.account) {
			acct = a
			break
		}
	}
	if acct.ID == "" || acct.KeyID != u.f.keyID {
		return custody.Request{}, userErr("%s's policy has no account on canary key %s (add one to accounts, or give --account)", opener, u.f.keyID)
	}
	for p, cfg := range u.cfgs {
		n := cfg.Policy.NoticeFor(u.f.keyID)
		if cfg.Policy.CanaryNoticePeriod == 0 || n > u.f.maxNotice {
			return custody.Request{}, fmt.Errorf("%s's notice period for %s is %s (canary_notice_period %s); over --max-notice %s: the drill could not run",
				p, u.f.keyID, n, cfg.Policy.CanaryNoticePeriod, u.f.maxNotice)
		}
		u.notice = max(u.notice, n)
	}
	return custody.Request{Kind: custody.KindUnfreeze, IdempotencyKey: "drill-unfreeze-" + u.drill.id, Account: acct.ID,
		KeyID: acct.KeyID, ChildPath: acct.ChildPath, Asset: u.f.asset, Destination: acct.OwnerAddress,
		Amount: u.f.amount, FeeRate: u.f.feeRate, Reason: "unfreeze drill " + u.drill.id}, nil
}

// operatorClient talks to party's node as its operator.
func (u *unfreezeDrill) operatorClient(party string) (*client, error) {
	path, ok := u.paths[party]
	if !ok {
		return nil, fmt.Errorf("no config for %s", party)
	}
	cf := clientFlags{config: path, role: "operator"}
	return cf.client()
}

func (u *unfreezeDrill) endorse(ctx context.Context, op operatorArg) (string, error) {
	cl, err := u.operatorClient(op.party)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	if err := endorse(ctx, &out, cl, u.reqID, custody.Approve, approvalFlags{party: op.party, operator: op.name, keyFile: op.file, ttl: 30 * time.Minute}); err != nil {
		return "", err
	}
	return strings.TrimSpace(out.String()), nil
}

func (u *unfreezeDrill) open(ctx context.Context, draft custody.Request) (string, error) {
	if err := u.clients[u.ops[0].party].do(ctx, "POST", "/v1/requests", draft, &u.view); err != nil {
		return "", err
	}
	u.reqID = u.view.ID
	u.d.Param("request_id", u.reqID)
	msg, err := u.endorse(ctx, u.ops[0])
	if err != nil {
		return "", fmt.Errorf("request %s stored, but its opening approval failed: %w", short12(u.reqID), err)
	}
	return fmt.Sprintf("request %s (%d input(s)); %s", short12(u.reqID), len(u.view.Request.Inputs), msg), nil
}

func (u *unfreezeDrill) approve(ctx context.Context) (string, error) {
	// The approver's node learns of the request from the opener's.
	if _, err := u.poll(ctx, u.ops[1].party, func(service.View) (bool, error) { return true, nil }); err != nil {
		return "", fmt.Errorf("the %s node never saw the request: %w", u.ops[1].party, err)
	}
	return u.endorse(ctx, u.ops[1])
}

// await follows the opener's view until the request is signed, printing
// each change of status or decision.
func (u *unfreezeDrill) await(ctx context.Context) (string, error) {
	start := time.Now()
	last := ""
	v, err := u.poll(ctx, u.ops[0].party, func(v service.View) (bool, error) {
		line := string(v.Status)
		if v.Decision != nil {
			line += ": " + v.Decision.String()
		}
		if line != last {
			fmt.Fprintf(u.out, "      %s  %s\n", time.Since(start).Round(time.Second), line)
			last = line
		}
		switch {
		case v.Result != nil && v.Result.Complete:
			return true, nil
		case v.Status.Terminal():
			return false, fmt.Errorf("the unfreeze ended %s: %s", v.Status, v.Reason)
		}
		return false, nil
	})
	if err != nil {
		return "", err
	}
	u.view = v
	return fmt.Sprintf("signed by %s after %s (coordinator %s)", strings.Join(v.Result.Signers, "+"), time.Since(start).Round(time.Second), v.Result.Coordinator), nil
}

// verify checks every signature against the canary key (derived along
// the account's child path); a coinless unfreeze must have signed the
// canary digest the drill computes itself.
func (u *unfreezeDrill) verify(ctx context.Context) (string, error) {
	var uc api.UnsealCheckResponse
	if err := u.clients[u.ops[0].party].do(ctx, "GET", "/v1/recovery/unseal-check", nil, &uc); err != nil {
		return "", err
	}
	var pubHex string
	for _, k := range uc.Keys {
		if k.KeyID == u.f.keyID {
			pubHex = k.PublicKey
		}
	}
	pub, err := parsePub(pubHex)
	if err != nil {
		return "", fmt.Errorf("public key of %s: %w", u.f.keyID, err)
	}
	req := u.view.Request
	if pub, _, err = tss.ChildKey(pub, req.ChildPath); err != nil {
		return "", err
	}
	res := u.view.Result
	if len(res.Signatures) == 0 {
		return "", errors.New("no signature")
	}
	if len(req.Inputs) == 0 {
		want, err := service.DefaultDigester(req)
		if err != nil {
			return "", err
		}
		if len(res.Signatures) != 1 || res.Signatures[0].Digest != want[0] {
			return "", errors.New("the signature is not over the request's canary digest")
		}
	}
	for i, s := range res.Signatures {
		if !s.Verify(pub) {
			return "", fmt.Errorf("signature %d: signature does NOT verify under the group key", i)
		}
	}
	what := "canary digest"
	if len(req.Inputs) > 0 {
		what = fmt.Sprintf("%d regtest input(s)", len(req.Inputs))
	}
	return fmt.Sprintf("%d signature(s) over the %s verified under %s…", len(res.Signatures), what, pubHex[:16]), nil
}

func parsePub(h string) (*btcec.PublicKey, error) {
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, err
	}
	return btcec.ParsePubKey(b)
}

// broadcast waits until the coordinator's node sees the unfreeze's
// transaction on its Bitcoin node (its settlement record has the txid).
func (u *unfreezeDrill) broadcast(ctx context.Context) (string, error) {
	v, err := u.poll(ctx, u.view.Result.Coordinator, func(v service.View) (bool, error) {
		return v.Settlement != nil && v.Settlement.TxID != "" && v.Settlement.Error == "", nil
	})
	if err != nil {
		if v.Settlement != nil && v.Settlement.Error != "" {
			return "", fmt.Errorf("%w (the node reports: %s)", err, v.Settlement.Error)
		}
		return "", err
	}
	u.d.Param("txid", v.Settlement.TxID)
	return fmt.Sprintf("txid %s, %d confirmation(s)", v.Settlement.TxID, v.Settlement.Confirmations), nil
}

// done waits until party's node records the unfreeze as signed (a node
// with a Bitcoin node calls it done only once a block holds its
// transaction: on regtest nobody mines during the drill) or done.
func (u *unfreezeDrill) done(ctx context.Context, party string) (string, error) {
	v, err := u.poll(ctx, party, func(v service.View) (bool, error) {
		if v.Status == custody.StatusDone || v.Status == custody.StatusSigned && v.Result != nil && v.Result.Complete {
			return true, nil
		}
		if v.Status.Terminal() {
			return false, fmt.Errorf("recorded %s: %s", v.Status, v.Reason)
		}
		return false, nil
	})
	if err != nil {
		return "", err
	}
	return string(v.Status) + ": " + v.Reason, nil
}

// poll reads party's view of the request every 250ms until cond says
// done or fails, or ctx (the drill's one deadline) ends. A node that does
// not know the request yet answers 404, which is waited out.
func (u *unfreezeDrill) poll(ctx context.Context, party string, cond func(service.View) (bool, error)) (service.View, error) {
	cl, ok := u.clients[party]
	if !ok {
		return service.View{}, fmt.Errorf("%s's API is not reachable", party)
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var lastErr error
	for {
		var v service.View
		err := cl.do(ctx, "GET", "/v1/requests/"+u.reqID, nil, &v)
		var ae *apiError
		switch {
		case err == nil:
			done, cerr := cond(v)
			if cerr != nil || done {
				return v, cerr
			}
		case errors.As(err, &ae) && ae.Status == 404:
			lastErr = err
		default:
			return v, err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			if lastErr != nil {
				return v, fmt.Errorf("%w (last: %v)", ctx.Err(), lastErr)
			}
			return v, fmt.Errorf("gave up waiting: %w", ctx.Err())
		}
	}
}
