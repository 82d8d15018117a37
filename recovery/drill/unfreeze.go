package drill

import (
	"context"
	"fmt"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/recovery"
)

// UnfreezeOptions shape the unfreeze drill.
type UnfreezeOptions struct {
	Account   string        // canary account (default: the first on the key)
	Asset     string        // default BTC
	Amount    uint64        // base units
	FeeRate   uint64        // sat/vB, Bitcoin only (0: DefaultFeeRate); none for an EVM asset
	Opener    Operator      // opens the unfreeze (and signs its opening approval)
	Approver  Operator      // approves it at its own node
	MaxNotice time.Duration // refuse to run if a node's canary notice is longer
	Timeout   time.Duration // bound on the whole unfreeze (default: notice + 2m)
}

// DefaultFeeRate is a Bitcoin unfreeze drill's fee rate, sat/vB.
const DefaultFeeRate = 1

// unfreeze is one unfreeze drill in progress.
type unfreeze struct {
	*run
	o      UnfreezeOptions
	notice time.Duration
	reqID  string
	view   service.View
}

// Unfreeze runs a full emergency unfreeze of a canary account through the
// custody API, exactly as on the worst day except for the notice period,
// which every node's policy shortens for canary keys only
// (canary_notice_period). Opened by one party's operator, approved by a
// second party's operator at its own node, the notice waited out on every
// node's own clock, signed by the pair. With a Bitcoin node configured the
// request spends the canary account's coins, and for an asset of an EVM
// chain (evm.chains) it is an EVM transaction of the canary account;
// otherwise it signs a canary digest.
func Unfreeze(c Cluster, cfg Config, o UnfreezeOptions) (*recovery.Report, error) {
	if cfg.KeyID == "" {
		return nil, usage("--key-id is required")
	}
	if o.Opener.Party == o.Approver.Party || !custody.Party(o.Opener.Party).Valid() || !custody.Party(o.Approver.Party).Valid() {
		return nil, usage("the unfreeze needs operators of two different parties: the first opens it, the second approves it")
	}
	if o.Asset == "" {
		o.Asset = "BTC"
	}
	r, err := start(c, cfg, "unfreeze")
	if err != nil {
		return nil, err
	}
	u := &unfreeze{run: r, o: o}
	for _, p := range []string{o.Opener.Party, o.Approver.Party} {
		if c.Reachable(p) != nil {
			return nil, fmt.Errorf("%s's API is not reachable: the drill could not run", p)
		}
	}
	draft, err := u.draft()
	if err != nil {
		return nil, err
	}
	return u.steps(draft)
}

func (u *unfreeze) steps(draft custody.Request) (*recovery.Report, error) {
	op, ap := u.o.Opener, u.o.Approver
	u.d.Param("opener", op.Party)
	u.d.Param("approver", ap.Party)
	u.d.Param("account", draft.Account)
	u.d.Param("notice", u.notice.String())
	timeout := u.o.Timeout
	if timeout <= 0 {
		timeout = u.notice + 2*time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ok := u.step(fmt.Sprintf("%s opens an emergency unfreeze of %s, signed by %s/%s", op.Party, draft.Account, op.Party, op.Name), func() (string, error) {
		return u.open(ctx, draft)
	})
	ok = ok && u.step(fmt.Sprintf("%s/%s approves at the %s node", ap.Party, ap.Name, ap.Party), func() (string, error) {
		return u.approve(ctx)
	})
	ok = ok && u.step(fmt.Sprintf("the %s notice period runs out; %s+%s sign", u.notice, op.Party, ap.Party), func() (string, error) {
		return u.await(ctx)
	})
	ok = ok && u.step("the signature verifies under the canary key", func() (string, error) {
		return u.verify(ctx)
	})
	switch {
	case ok && len(u.view.Request.Inputs) > 0:
		ok = u.step("the coordinator's transaction reaches the regtest node", func() (string, error) {
			return u.broadcast(ctx)
		})
	case ok && u.evmPlan() != nil:
		ok = u.step("the coordinator's transaction reaches its EVM node", func() (string, error) {
			return u.broadcast(ctx)
		})
	}
	if ok {
		for _, p := range u.reachable() {
			u.step(p+" records the unfreeze signed", func() (string, error) { return u.done(ctx, p) })
		}
	}
	return u.finish(node.DefaultParties)
}

// draft builds the request from the opener's policy, and reads every
// node's notice period for the key: the drill runs only where each node
// shortens it.
func (u *unfreeze) draft() (custody.Request, error) {
	pol, _ := u.c.Policy(u.o.Opener.Party)
	var acct custody.Account
	for _, a := range pol.Accounts {
		if (u.o.Account == "" && a.KeyID == u.cfg.KeyID) || (u.o.Account != "" && a.ID == u.o.Account) {
			acct = a
			break
		}
	}
	if acct.ID == "" || acct.KeyID != u.cfg.KeyID {
		return custody.Request{}, usage("%s's policy has no account on canary key %s (add one to accounts, or give --account)", u.o.Opener.Party, u.cfg.KeyID)
	}
	for _, p := range u.c.Parties() {
		pol, _ := u.c.Policy(p)
		n := pol.NoticeFor(u.cfg.KeyID)
		if pol.CanaryNoticePeriod == 0 || n > u.o.MaxNotice {
			return custody.Request{}, fmt.Errorf("%s's notice period for %s is %s (canary_notice_period %s); over --max-notice %s: the drill could not run",
				p, u.cfg.KeyID, n, pol.CanaryNoticePeriod, u.o.MaxNotice)
		}
		u.notice = max(u.notice, n)
	}
	// An EVM asset's fees are the EVM plan's (evm.chains caps), never a
	// Bitcoin fee rate.
	fee := u.o.FeeRate
	switch {
	case pol.OnEVM(u.o.Asset) && fee != 0:
		return custody.Request{}, usage("%s is on an EVM chain: its fees come from every node's evm.chains caps; leave --fee-rate out", u.o.Asset)
	case !pol.OnEVM(u.o.Asset) && fee == 0:
		fee = DefaultFeeRate
	}
	return custody.Request{Kind: custody.KindUnfreeze, IdempotencyKey: "drill-unfreeze-" + u.id, Account: acct.ID,
		KeyID: acct.KeyID, ChildPath: acct.ChildPath, Asset: u.o.Asset, Destination: acct.OwnerAddress,
		Amount: u.o.Amount, FeeRate: fee, Reason: "unfreeze drill " + u.id}, nil
}

// endorse signs an approval by op of the request as op's node stores it
// (so the signature binds that node's request ID and kind) and records it.
func (u *unfreeze) endorse(ctx context.Context, op Operator) (string, error) {
	v, err := u.c.Get(ctx, op.Party, u.reqID)
	if err != nil {
		return "", err
	}
	now := u.cfg.Now()
	a, err := op.Sign(custody.Approval{RequestID: v.ID, Kind: v.Request.Kind, Stance: custody.Approve, Party: custody.Party(op.Party),
		Operator: op.Name, Nonce: recovery.NewNonce(), IssuedAt: now, Expires: now.Add(30 * time.Minute)})
	if err != nil {
		return "", err
	}
	out, err := u.c.Endorse(ctx, op.Party, a)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s recorded of %s %s by %s/%s: request is %s", custody.Approve, v.Request.Kind, short12(v.ID), op.Party, op.Name, out.Status), nil
}

func (u *unfreeze) open(ctx context.Context, draft custody.Request) (string, error) {
	v, err := u.c.Submit(ctx, u.o.Opener.Party, draft)
	if err != nil {
		return "", err
	}
	u.view, u.reqID = v, v.ID
	u.d.Param("request_id", u.reqID)
	msg, err := u.endorse(ctx, u.o.Opener)
	if err != nil {
		return "", fmt.Errorf("request %s stored, but its opening approval failed: %w", short12(u.reqID), err)
	}
	return fmt.Sprintf("request %s (%d input(s)); %s", short12(u.reqID), len(u.view.Request.Inputs), msg), nil
}

func (u *unfreeze) approve(ctx context.Context) (string, error) {
	// The approver's node learns of the request from the opener's.
	if _, err := u.c.Watch(ctx, u.o.Approver.Party, u.reqID, func(service.View) (bool, error) { return true, nil }); err != nil {
		return "", fmt.Errorf("the %s node never saw the request: %w", u.o.Approver.Party, err)
	}
	return u.endorse(ctx, u.o.Approver)
}

func short12(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
