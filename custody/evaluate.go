package custody

import (
	"fmt"
	"math/big"
	"time"
)

// Evaluate is this node's policy decision on req. It is a pure function of
// the node's policy, its own state, the request and its own clock reading
// now; every node runs it on the same typed request and decides alone.
//
// The verdict is Refuse if any check fails, else NeedOperator if a check
// asks for a person or this node's own approval is still missing, else
// Approve. Ready says the quorum is met and this node signs.
//
// A verified veto from any party refuses a request of any kind. Vetoes are
// expected during an unfreeze's notice period, but a later one is still
// honoured until signing begins: the system fails closed.
func Evaluate(p Policy, st State, req Request, now time.Time) Decision {
	e := &evaluation{p: p, st: st, req: req, now: now}
	e.run()
	return e.decide()
}

type evaluation struct {
	p       Policy
	st      State
	req     Request
	now     time.Time
	refuse  []Reason
	need    []Reason
	retryAt time.Time
}

func (e *evaluation) refusef(code, format string, args ...any) {
	e.refuse = append(e.refuse, Reason{Code: code, Detail: fmt.Sprintf(format, args...)})
}

func (e *evaluation) needf(code, format string, args ...any) {
	e.need = append(e.need, Reason{Code: code, Detail: fmt.Sprintf(format, args...)})
}

func (e *evaluation) run() {
	req := e.req
	if err := req.Validate(); err != nil {
		e.refusef(ReasonMalformed, "%v", err)
		return
	}
	if e.st.Record.ID != "" && e.st.Record.ID != req.ID() {
		e.refusef(ReasonStatus, "state belongs to another request")
		return
	}
	if s := e.st.Record.Status; s.Terminal() || s == StatusSigned {
		e.refusef(ReasonStatus, "request is %s", s)
		return
	}
	for _, party := range Parties {
		if v, ok := e.st.Vetoes[party]; ok {
			e.refusef(ReasonVetoed, "vetoed by %s operator %s", party, v.Operator)
		}
	}
	if !QuorumFor(req.Kind).Includes(e.p.Party) {
		e.refusef(ReasonNotSigner, "%s signs only emergency_unfreeze, canary and reshare", e.p.Party)
	}
	if !requesterMayAsk(req.Kind, req.Requester.Party) {
		e.refusef(ReasonRequester, "%s may not request %s", req.Requester.Party, req.Kind)
	}
	if req.CreatedAt.After(e.now.Add(e.p.ClockSkew)) {
		e.refusef(ReasonFuture, "created %s ahead of this node's clock", req.CreatedAt.Sub(e.now).Round(time.Second))
	}
	if req.Kind == KindCanary {
		if err := CheckRawDigest(e.p, req.KeyID); err != nil {
			e.refusef(ReasonRawDigest, "key %s is not a canary key", req.KeyID)
		}
		return
	}
	e.checkTransfer()
	switch req.Kind {
	case KindRelease:
		e.checkRelease()
	case KindLiquidation:
		e.checkLiquidation()
	case KindUnfreeze:
		e.checkUnfreeze()
	}
}

func requesterMayAsk(k Kind, p Party) bool {
	switch k {
	case KindRelease:
		return p == Custodian || p == Exchange
	case KindLiquidation:
		return p == Exchange // the margin engine is the exchange's
	}
	return p.Valid()
}

// checkTransfer holds the checks common to every fund-moving kind.
func (e *evaluation) checkTransfer() {
	req := e.req
	switch role, ok := e.p.keyRole(req.KeyID); {
	case ok && role == RoleCustody:
	case ok && role == RoleCanary && req.Kind == KindUnfreeze:
		// The unfreeze drill: a canary account, the canary notice period.
	default:
		e.refusef(ReasonKey, "key %s is not a configured custody key", req.KeyID)
	}
	acct, ok := e.p.account(req.Account)
	if !ok {
		e.refusef(ReasonAccount, "account %s is not configured", req.Account)
	} else if acct.KeyID != req.KeyID || acct.ChildPath != req.ChildPath {
		e.refusef(ReasonKey, "account %s is held by another key or child path", req.Account)
	}
	asset, ok := e.p.asset(req.Asset)
	switch {
	case !ok:
		e.refusef(ReasonAsset, "asset %s is not configured", req.Asset)
	case req.Units != "" && asset.Chain != ChainEVM:
		e.refusef(ReasonAsset, "units (an exact amount over %d) are for evm assets; %s is not one", uint64(MaxAmount), req.Asset)
	case req.BaseUnits().Cmp(asset.Cap()) > 0:
		e.refusef(ReasonAmountCap, "amount %s over the %s cap %s", req.BaseUnits(), req.Asset, asset.Cap())
	}
	if err := e.p.CheckFeeRate(req); err != nil {
		e.refusef(ReasonMalformed, "%v", err)
	}
	if req.FeeRate > e.p.MaxFeeRate {
		e.refusef(ReasonFeeCap, "fee rate %d over %d sat/vB", req.FeeRate, e.p.MaxFeeRate)
	}
	// A request that already began signing was counted when it began; a
	// drill on a canary key is never counted.
	class, limit := e.p.CapOf(req)
	if key := CapKey(DayKey(e.now), class); e.p.CountsTowardCap(req) && e.st.Record.Attempts == 0 && e.st.Settlements[key] >= limit {
		what := "settlements"
		if class != "" {
			what = class + "es"
		}
		e.refusef(ReasonDailyCap, "%d of %d %s on %s already begun", e.st.Settlements[key], limit, what, DayKey(e.now))
	}
}

func (e *evaluation) checkRelease() {
	req := e.req
	if acct, ok := e.p.account(req.Account); ok && req.Destination != acct.OwnerAddress {
		e.refusef(ReasonDestination, "destination is not the owner's registered address")
	}
	if e.p.RequireZeroExposure {
		x, ok := e.st.Exposure[req.Account]
		switch {
		case !ok:
			e.needf(ReasonExposure, "exposure of %s unknown to this node", req.Account)
		case x > 0:
			e.refusef(ReasonExposure, "account %s still has exposure %d", req.Account, x)
		}
	}
}

func (e *evaluation) checkLiquidation() {
	req, ev := e.req, e.req.Evidence
	if err := VerifyMarginCall(*ev, e.p.marginKeys()); err != nil {
		e.refusef(ReasonEvidenceSignature, "evidence not signed by a configured margin-engine key")
		return // nothing else in forged evidence is worth reading
	}
	if age := e.now.Sub(ev.Time); age > e.p.EvidenceMaxAge {
		e.refusef(ReasonEvidenceStale, "evidence is %s old, max %s", age.Round(time.Second), e.p.EvidenceMaxAge)
	} else if -age > e.p.ClockSkew {
		e.refusef(ReasonEvidenceStale, "evidence is dated %s in the future", (-age).Round(time.Second))
	}
	if ev.Account != req.Account || ev.Asset != req.Asset {
		e.refusef(ReasonEvidenceMismatch, "evidence is for %s/%s, request for %s/%s", ev.Account, ev.Asset, req.Account, req.Asset)
	}
	if want := e.liquidationAddress(); want == "" || req.Destination != want {
		e.refusef(ReasonDestination, "destination is not the pre-authorised liquidation address")
	}
	if req.BaseUnits().Cmp(u(ev.Shortfall)) > 0 {
		e.refusef(ReasonOverShortfall, "amount %s over shortfall %d", req.BaseUnits(), ev.Shortfall)
	}
	if asset, ok := e.p.asset(req.Asset); ok {
		// shortfall × price / 10^decimals must not exceed the exposure.
		v := new(big.Int).Mul(u(ev.Shortfall), u(ev.Price))
		lim := new(big.Int).Mul(u(ev.Exposure), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(asset.Decimals)), nil))
		if v.Cmp(lim) > 0 {
			e.refusef(ReasonShortfallExposure, "shortfall is worth more than the exposure %d", ev.Exposure)
		}
	}
	e.checkLeverage(ev)
	if ev.Account == req.Account {
		e.checkCredit(ev)
	}
}

// checkCredit holds the margin call against this node's own credit figure
// for the account (State.Credit), not the collateral the engine claims: an
// exposure the proven collateral still covers is no reason to liquidate,
// and without a figure (no verified proof, a stale price) it waits.
func (e *evaluation) checkCredit(ev *MarginCall) {
	if e.st.Credit == nil {
		return // this node has no credit source
	}
	c, ok := e.st.Credit[ev.Account]
	switch {
	case !ok:
		e.refusef(ReasonCreditUnknown, "no credit figure for %s on this node yet", ev.Account)
	case c.Unknown != "" || c.Limit == nil:
		e.refusef(ReasonCreditUnknown, "credit of %s unknown: %s", ev.Account, c.Unknown)
	case u(ev.Exposure).Cmp(c.Limit) <= 0:
		e.refusef(ReasonCreditCovers, "exposure %d is within the credit line %s of the proof of %s (priced %s)",
			ev.Exposure, c.Limit, c.SnapshotTime.UTC().Format(time.RFC3339), c.PriceTime.UTC().Format(time.RFC3339))
	}
}

// checkLeverage computes haircut collateral and the leverage
// exposure / collateral; above the pilot limit the liquidation is not
// automatic.
func (e *evaluation) checkLeverage(ev *MarginCall) {
	coll := new(big.Int)
	for _, h := range ev.Collateral {
		a, ok := e.p.asset(h.Asset)
		if !ok {
			e.refusef(ReasonAsset, "collateral asset %s has no configured collateral factor", h.Asset)
			return
		}
		coll.Add(coll, new(big.Int).Mul(u(h.Value), u(a.CollateralFactor())))
	}
	// coll is in value × bps. leverage_bps = exposure × 10000 / (coll / 10000).
	lev := new(big.Int).Mul(u(ev.Exposure), big.NewInt(10000*10000))
	limit := new(big.Int).Mul(coll, u(e.p.MaxLeverageBps))
	if lev.Cmp(limit) > 0 {
		e.needf(ReasonLeverage, "leverage %s over the %s limit", leverageString(lev, coll), bpsString(e.p.MaxLeverageBps))
	}
}

func (e *evaluation) liquidationAddress() string {
	if a, ok := e.p.account(e.req.Account); ok && a.LiquidationAddress != "" {
		return a.LiquidationAddress
	}
	return e.p.LiquidationAddress
}

func (e *evaluation) checkUnfreeze() {
	req, tl := e.req, e.st.Timeline
	if acct, ok := e.p.account(req.Account); ok && req.Destination != acct.OwnerAddress {
		e.refusef(ReasonDestination, "destination is not the owner's registered address")
	}
	if !e.st.approved(req.Requester.Party, true) {
		e.refusef(ReasonNotOpened, "not opened by a signed approval of the %s operator", req.Requester.Party)
	}
	if tl.FirstSeen.IsZero() {
		e.refusef(ReasonTooEarly, "this node has no record of when it first saw the request")
		return
	}
	wall := e.now.Sub(tl.FirstSeen)
	lapse := e.p.UnfreezeLapse
	if wall >= lapse || tl.Witnessed >= lapse || e.now.Sub(req.CreatedAt) >= lapse {
		e.refusef(ReasonLapsed, "opened over %s ago (wall %s, witnessed %s)", lapse, fmtDur(wall), fmtDur(tl.Witnessed))
		return
	}
	notice := e.p.NoticeFor(req.KeyID)
	if wall < notice || tl.Witnessed < notice {
		wait := max(notice-wall, notice-tl.Witnessed)
		e.retryAt = e.now.Add(wait)
		e.refusef(ReasonTooEarly, "notice period %s not over: wall %s, witnessed %s", notice, fmtDur(wall), fmtDur(tl.Witnessed))
	}
}

func (e *evaluation) decide() Decision {
	kind, self := e.req.Kind, e.p.Party
	operatorOnly := kind == KindUnfreeze || kind == KindCanary
	d := Decision{}
	own, hasOwn := e.st.Approvals[self]
	switch {
	case len(e.refuse) > 0:
		d.Verdict, d.Reasons = VerdictRefuse, append(e.refuse, e.need...)
		d.RetryAt = e.retryAt
		if len(e.refuse) > 1 || e.refuse[0].Code != ReasonTooEarly {
			d.RetryAt = time.Time{}
		}
		return d
	case hasOwn && !own.Auto:
		d.Verdict = VerdictApprove // the operator's signature answers any need
	case len(e.need) > 0:
		d.Verdict, d.Reasons = VerdictNeedOperator, e.need
		return d
	case hasOwn && own.Auto && !operatorOnly:
		d.Verdict, d.Auto = VerdictApprove, true
	case !operatorOnly && e.p.autoApproves(kind):
		d.Verdict, d.Auto = VerdictApprove, true
	default:
		d.Verdict = VerdictNeedOperator
		d.Reasons = []Reason{{ReasonOperatorApproval, fmt.Sprintf("waiting for a signed approval by the %s operator", self)}}
		return d
	}
	d.Signers = QuorumFor(kind).Signers(func(p Party) bool {
		return p == self || e.st.approved(p, operatorOnly)
	})
	for _, s := range d.Signers {
		d.Ready = d.Ready || s == self
	}
	if !d.Ready {
		d.Signers = nil
	}
	return d
}

func u(x uint64) *big.Int { return new(big.Int).SetUint64(x) }

// leverageString renders exposure×10^8 / coll(×10^4) as "2.40x".
func leverageString(lev, coll *big.Int) string {
	if coll.Sign() == 0 {
		return "unbounded (no collateral)"
	}
	bps := new(big.Int).Quo(lev, coll) // exposure / collateral in bps
	if !bps.IsUint64() {
		return "over 1e15x"
	}
	return bpsString(bps.Uint64())
}

func bpsString(b uint64) string { return fmt.Sprintf("%d.%02dx", b/10000, b%10000/100) }

func fmtDur(d time.Duration) string { return d.Round(time.Minute).String() }
