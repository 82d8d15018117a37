package custody_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/triad-custody/triad/custody"
)

// propose <alias> <release|liquidation|unfreeze|canary> [key=value ...]
func (h *harness) propose(pos []string, kv map[string]string) (string, error) {
	if len(pos) != 2 {
		return "", fmt.Errorf("usage: propose <alias> <kind> [k=v...]")
	}
	alias := pos[0]
	kinds := map[string]custody.Kind{"release": custody.KindRelease, "liquidation": custody.KindLiquidation, "unfreeze": custody.KindUnfreeze, "canary": custody.KindCanary}
	kind, ok := kinds[pos[1]]
	if !ok {
		return "", fmt.Errorf("unknown kind %q", pos[1])
	}
	defBy := map[custody.Kind]string{custody.KindRelease: "custodian", custody.KindLiquidation: "exchange", custody.KindUnfreeze: "custodian", custody.KindCanary: "regulator"}
	by := custody.Party(str(kv, "by", defBy[kind]))
	requester := h.nodes[by]
	if requester == nil {
		return "", fmt.Errorf("unknown party %q", by)
	}
	now := requester.clock.Now()
	req := custody.Request{
		Kind:           kind,
		IdempotencyKey: str(kv, "idem", "idem-"+alias),
		Requester:      custody.Requester{Party: by, Caller: str(kv, "caller", "ops")},
		KeyID:          str(kv, "key", "vault-1"),
		CreatedAt:      now,
	}
	if kind == custody.KindCanary {
		req.KeyID = str(kv, "key", "canary-1")
		d := sha256Hex("drill " + alias)
		req.Digest = d
		req.Reason = "quarterly drill"
	} else {
		acct := str(kv, "account", "acct-1")
		req.Account, req.Asset = acct, str(kv, "asset", "BTC")
		req.ChildPath = str(kv, "path", map[string]string{"acct-1": "m/0/1", "acct-2": "m/0/2"}[acct])
		req.Amount = num(kv, "amount", 50_000_000)
		req.FeeRate = num(kv, "fee", 10)
		owner := map[string]string{"acct-1": "bc1qowner0000account0one", "acct-2": "bc1qowner0000account0two"}[acct]
		dests := map[string]string{"owner": owner, "liq": "bc1qliquidation0000pre0authorised", "other": "bc1qattacker0000address"}
		def := "owner"
		if kind == custody.KindLiquidation {
			def = "liq"
		}
		req.Destination = dests[str(kv, "dest", def)]
		if req.Destination == "" {
			req.Destination = kv["dest"]
		}
	}
	if kind == custody.KindUnfreeze {
		req.Reason = str(kv, "reason", "exchange-insolvent")
	}
	if kind == custody.KindLiquidation {
		req.Requester.Caller = str(kv, "caller", "margin-engine")
		req.Amount = num(kv, "amount", 20_000_000)
		ev, err := h.evidence(req, now, kv)
		if err != nil {
			return "", err
		}
		req.Evidence = ev
	}
	if err := req.Validate(); err != nil {
		return "", err
	}
	req = req.Normalize()
	h.reqs[alias] = req
	h.aliases = append(h.aliases, alias)
	for _, p := range custody.Parties {
		n := h.nodes[p]
		if _, ok := n.progress[alias]; !ok {
			t := n.clock.Now()
			n.progress[alias] = &custody.Progress{Record: custody.NewRecord(req.ID(), t), Timeline: custody.Timeline{FirstSeen: t}}
		}
	}
	return fmt.Sprintf("%s: %s id=%.12s by %s/%s", alias, kind, req.ID(), by, req.Requester.Caller), nil
}

// evidence builds margin-call evidence: evidence=valid|forged, age=, shortfall=,
// exposure=, price=, collateral=BTC:6000000,MMF:2000000, ev-account=.
func (h *harness) evidence(req custody.Request, now time.Time, kv map[string]string) (*custody.MarginCall, error) {
	m := custody.MarginCall{
		Account:   str(kv, "ev-account", req.Account),
		Asset:     req.Asset,
		Shortfall: num(kv, "shortfall", 25_000_000),
		Exposure:  num(kv, "exposure", 9_000_000),
		Price:     num(kv, "price", 6_000_000),
		Time:      now.Add(-dur(kv, "age", time.Minute)),
		Nonce:     h.nextNonce("mc"),
	}
	for _, part := range strings.Split(str(kv, "collateral", "BTC:6000000"), ",") {
		a, v, _ := strings.Cut(part, ":")
		m.Collateral = append(m.Collateral, custody.Holding{Asset: a, Value: num(map[string]string{"v": v}, "v", 0)})
	}
	switch str(kv, "evidence", "valid") {
	case "valid":
		m = custody.SignMarginCall(m, seedKey("margin-engine"))
	case "forged":
		m = custody.SignMarginCall(m, seedKey("forger"))
	default:
		return nil, fmt.Errorf("evidence=%s: want valid or forged", kv["evidence"])
	}
	return &m, nil
}

// approve|veto <alias> <party> [ttl=1h] [hold] — an operator signs and
// every node verifies (unless hold: kept for deliver).
func (h *harness) approve(stance custody.Stance, pos []string, kv map[string]string) (string, error) {
	if len(pos) < 2 {
		return "", fmt.Errorf("usage: %s <alias> <party> [ttl=] [hold]", stance)
	}
	req, err := h.request(pos[0])
	if err != nil {
		return "", err
	}
	party := custody.Party(pos[1])
	n := h.nodes[party]
	if n == nil {
		return "", fmt.Errorf("unknown party %q", pos[1])
	}
	now := n.clock.Now()
	a := custody.Approval{
		RequestID: req.ID(), Kind: req.Kind, Stance: stance, Party: party, Operator: operatorNames[party],
		Nonce: h.nextNonce("op"), IssuedAt: now, Expires: now.Add(dur(kv, "ttl", 30*time.Minute)),
	}
	h.last, h.lastReq = custody.SignApproval(a, operatorKey(party)), pos[0]
	if len(pos) > 2 && pos[2] == "hold" {
		return fmt.Sprintf("held %s by %s/%s nonce=%s", stance, party, a.Operator, a.Nonce), nil
	}
	return h.deliver(h.last, kv)
}

// deliver|replay [to=alias] — (re)deliver the last approval to every node.
func (h *harness) deliver(a custody.Approval, kv map[string]string) (string, error) {
	alias := str(kv, "to", h.lastReq)
	req, err := h.request(alias)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range custody.Parties {
		n := h.nodes[p]
		now := n.clock.Now()
		err := custody.VerifyApproval(n.policy, a, req, now)
		if err == nil {
			err = n.nonces.UseNonce(a.Party, a.Nonce, a.Expires)
		}
		if err != nil {
			fmt.Fprintf(&b, "%s: refused: %s\n", p, errClass(err))
			continue
		}
		prog := n.progress[alias]
		e := a.Endorse(now)
		if a.Stance == custody.Veto {
			prog.Vetoes = setEndorsement(prog.Vetoes, e)
		} else {
			prog.Approvals = setEndorsement(prog.Approvals, e)
		}
		fmt.Fprintf(&b, "%s: recorded %s by %s/%s\n", p, a.Stance, a.Party, a.Operator)
	}
	return b.String(), nil
}

func errClass(err error) string {
	for _, s := range []error{custody.ErrReplay, custody.ErrBadSignature, custody.ErrExpired, custody.ErrMismatch, custody.ErrMalformed} {
		if errors.Is(err, s) {
			return fmt.Sprintf("%v [%v]", err, s)
		}
	}
	return err.Error()
}

func setEndorsement(m map[custody.Party]custody.Endorsement, e custody.Endorsement) map[custody.Party]custody.Endorsement {
	if m == nil {
		m = map[custody.Party]custody.Endorsement{}
	}
	m[e.Party] = e
	return m
}

// alter stance=|party=|expires=+1h|nonce=|request=alias — tamper with the
// last approval without re-signing, and deliver it.
func (h *harness) alter(kv map[string]string) (string, error) {
	a := h.last
	a.Signature = append([]byte(nil), a.Signature...)
	if s, ok := kv["stance"]; ok {
		a.Stance = custody.Stance(s)
	}
	if s, ok := kv["party"]; ok {
		a.Party = custody.Party(s)
	}
	if s, ok := kv["nonce"]; ok {
		a.Nonce = s
	}
	if _, ok := kv["expires"]; ok {
		a.Expires = a.Expires.Add(dur(kv, "expires", 0))
	}
	if s, ok := kv["request"]; ok {
		r, err := h.request(s)
		if err != nil {
			return "", err
		}
		a.RequestID = r.ID()
		kv["to"] = s
	}
	return h.deliver(a, kv)
}
