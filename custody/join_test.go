package custody_test

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
)

var errChain = errors.New("input 0: value differs from the chain")

// joinCase is the custodian's view of a release both operators approved,
// and the exchange's proposal to sign its digest 0 in attempt a1.
func joinCase(t *testing.T) (custody.Policy, custody.SignProposal, custody.JoinFacts) {
	t.Helper()
	pol := loadPolicy(t)
	req := sampleRelease()
	digests := [][32]byte{sha256.Sum256([]byte("input 0")), sha256.Sum256([]byte("input 1"))}
	prop := custody.SignProposal{KeyID: req.KeyID, Session: req.ID() + "/0/a1", Digest: digests[0][:], ChildPath: req.ChildPath,
		Participants: []custody.Party{custody.Custodian, custody.Exchange}, Request: req}
	st := custody.State{Progress: custody.Progress{
		Record:   custody.Record{ID: req.ID(), Status: custody.StatusApproved},
		Timeline: custody.Timeline{FirstSeen: epoch},
		Approvals: map[custody.Party]custody.Endorsement{
			custody.Custodian: {Party: custody.Custodian, Stance: custody.Approve, Operator: "alice"},
			custody.Exchange:  {Party: custody.Exchange, Stance: custody.Approve, Operator: "bob"},
		}}}
	return pol, prop, custody.JoinFacts{Digests: digests, Stored: true, State: st, Now: epoch.Add(time.Minute)}
}

// ../shared/SECURITY.md scenario 8: every node decides alone, from its own digests, chain node,
// store and clock, whether to contribute a share; each refusal names why,
// and a fact still in flight is a wait, not a refusal.
func TestDecideJoinRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		change func(*custody.SignProposal, *custody.JoinFacts)
		want   custody.JoinVerdict
		reason string
	}{
		"payload does not decode": {func(p *custody.SignProposal, _ *custody.JoinFacts) { p.PayloadErr = custody.ErrMalformed }, custody.JoinRefuse, "payload"},
		"session of another request": {func(p *custody.SignProposal, _ *custody.JoinFacts) {
			p.Session = strings.Repeat("ab", 32) + "/0/a1"
		}, custody.JoinRefuse, "session request ID"},
		"session without attempt": {func(p *custody.SignProposal, _ *custody.JoinFacts) { p.Session = p.Request.ID() + "/0/" }, custody.JoinRefuse, "session request ID"},
		"session without input":   {func(p *custody.SignProposal, _ *custody.JoinFacts) { p.Session = p.Request.ID() + "/a1" }, custody.JoinRefuse, "session request ID"},
		"input not canonical":     {func(p *custody.SignProposal, _ *custody.JoinFacts) { p.Session = p.Request.ID() + "/00/a1" }, custody.JoinRefuse, "session request ID"},
		"negative input":          {func(p *custody.SignProposal, _ *custody.JoinFacts) { p.Session = p.Request.ID() + "/-1/a1" }, custody.JoinRefuse, "session request ID"},
		"another key":             {func(p *custody.SignProposal, _ *custody.JoinFacts) { p.KeyID = "canary-1" }, custody.JoinRefuse, "key or child path"},
		"another child path":      {func(p *custody.SignProposal, _ *custody.JoinFacts) { p.ChildPath = "m/0/2" }, custody.JoinRefuse, "key or child path"},
		"no digests here":         {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.DigestErr = errChain }, custody.JoinRefuse, "no digest"},
		"input out of range":      {func(p *custody.SignProposal, _ *custody.JoinFacts) { p.Session = p.Request.ID() + "/2/a1" }, custody.JoinRefuse, "no digest"},
		"another input's digest":  {func(p *custody.SignProposal, f *custody.JoinFacts) { p.Digest = f.Digests[1][:] }, custody.JoinRefuse, "not the one this node computes"},
		"a digest of its own":     {func(p *custody.SignProposal, _ *custody.JoinFacts) { p.Digest = make([]byte, 32) }, custody.JoinRefuse, "not the one this node computes"},
		"without this node":       {func(p *custody.SignProposal, _ *custody.JoinFacts) { p.Participants[0] = custody.Regulator }, custody.JoinRefuse, "participants"},
		"three participants":      {func(p *custody.SignProposal, _ *custody.JoinFacts) { p.Participants = custody.Parties }, custody.JoinRefuse, "participants"},
		"plan fails on own chain": {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.PlanErr = errChain }, custody.JoinRefuse, "plan"},
		"store unreadable":        {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.StoreErr = errChain }, custody.JoinRefuse, "value differs"},
		"not stored yet":          {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.Stored = false }, custody.JoinWait, "not stored here yet"},
		"own attempt under way":   {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.OwnAttempt = "mine" }, custody.JoinRefuse, "coordinating its own attempt"},
		"state unreadable":        {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.StateErr = errChain }, custody.JoinRefuse, "value differs"},
		"vetoed": {func(_ *custody.SignProposal, f *custody.JoinFacts) {
			f.State.Vetoes = map[custody.Party]custody.Endorsement{custody.Regulator: {}}
		}, custody.JoinRefuse, custody.ReasonVetoed},
		"already signed here":        {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.State.Record.Status = custody.StatusSigned }, custody.JoinRefuse, custody.ReasonStatus},
		"created ahead of the clock": {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.Now = epoch.Add(-time.Hour) }, custody.JoinWait, custody.ReasonFuture},
		"own operator not yet":       {func(_ *custody.SignProposal, f *custody.JoinFacts) { delete(f.State.Approvals, custody.Custodian) }, custody.JoinWait, custody.ReasonOperatorApproval},
		"partner not approved here":  {func(_ *custody.SignProposal, f *custody.JoinFacts) { delete(f.State.Approvals, custody.Exchange) }, custody.JoinWait, "not an approved quorum here yet"},
		"another live session":       {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.LiveWith = custody.Regulator }, custody.JoinRefuse, "is live"},
		"request done here":          {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.State.Record.Status = custody.StatusDone }, custody.JoinRefuse, custody.ReasonStatus},
	} {
		pol, prop, f := joinCase(t)
		c.change(&prop, &f)
		d := custody.DecideJoin(pol, prop, f)
		if d.Verdict != c.want || !strings.Contains(d.Reason, c.reason) && (d.Cause == nil || !strings.Contains(d.Cause.Error(), c.reason)) {
			t.Errorf("%s: %s %q (%v), want %s %q", name, d.Verdict, d.Reason, d.Cause, c.want, c.reason)
		}
	}
	// A plan refused by the chain node stays that error.
	pol, prop, f := joinCase(t)
	f.PlanErr = errChain
	if d := custody.DecideJoin(pol, prop, f); !errors.Is(d.Cause, errChain) {
		t.Errorf("plan refusal cause %v", d.Cause)
	}
	// On its own attempt, the coordinator's view is the one that counts:
	// what a partner would wait for, it refuses.
	pol, prop, f = joinCase(t)
	f.OwnAttempt = "a1"
	delete(f.State.Approvals, custody.Exchange)
	if d := custody.DecideJoin(pol, prop, f); d.Verdict != custody.JoinRefuse || !strings.Contains(d.Reason, "not an approved quorum here") {
		t.Errorf("own attempt without the partner's approval: %s %q", d.Verdict, d.Reason)
	}
}

// A join names exactly what this node signs, and the state changes that
// take the request to signing here.
func TestDecideJoinJoins(t *testing.T) {
	steps := func(d custody.JoinDecision) []custody.EventType {
		var out []custody.EventType
		for _, s := range d.Steps {
			out = append(out, s.Event)
		}
		return out
	}
	for name, c := range map[string]struct {
		change func(*custody.SignProposal, *custody.JoinFacts)
		own    bool
		steps  []custody.EventType
	}{
		"approved here":              {func(*custody.SignProposal, *custody.JoinFacts) {}, false, []custody.EventType{custody.EvBegin}},
		"proposed here (failover)":   {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.State.Record.Status = custody.StatusProposed }, false, []custody.EventType{custody.EvApprove, custody.EvBegin}},
		"a new attempt":              {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.State.Record.Status = custody.StatusSigning }, false, []custody.EventType{custody.EvAbort, custody.EvBegin}},
		"the same partner's session": {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.LiveWith = custody.Exchange }, false, []custody.EventType{custody.EvBegin}},
		"this node's own attempt":    {func(_ *custody.SignProposal, f *custody.JoinFacts) { f.OwnAttempt = "a1" }, true, nil},
		"the next input of an attempt": {func(p *custody.SignProposal, f *custody.JoinFacts) {
			p.Session, p.Digest, f.State.Record.Status = p.Request.ID()+"/1/a1", f.Digests[1][:], custody.StatusSigning
		}, false, nil},
	} {
		pol, prop, f := joinCase(t)
		c.change(&prop, &f)
		d := custody.DecideJoin(pol, prop, f)
		if d.Verdict != custody.JoinYes || d.Own != c.own || !slices.Equal(steps(d), c.steps) {
			t.Errorf("%s: %s %q own=%v steps %v, want join own=%v steps %v", name, d.Verdict, d.Reason, d.Own, steps(d), c.own, c.steps)
			continue
		}
		if d.KeyID != prop.Request.KeyID || d.ChildPath != prop.Request.ChildPath || d.Partner != custody.Exchange ||
			d.Digest != f.Digests[d.Session.Input] || string(d.Digest[:]) != string(prop.Digest) || d.Session.Attempt != "a1" {
			t.Errorf("%s: joins %+v", name, d)
		}
	}
}

// The raw-digest path (../shared/SECURITY.md scenario 33, ../shared/SECURITY.md) is the same decision: a canary key
// over the drill message of the session's nonce, nothing else.
func TestDecideJoinRawDrill(t *testing.T) {
	pol := loadPolicy(t)
	d, _ := custody.DrillDigest("drill-1")
	raw := custody.SignProposal{KeyID: "canary-1", Session: "drill-1", Digest: d[:], Raw: true}
	if got := custody.DecideJoin(pol, raw, custody.JoinFacts{}); got.Verdict != custody.JoinYes {
		t.Fatalf("drill message: %s %v", got.Verdict, got.Cause)
	}
	for name, p := range map[string]custody.SignProposal{
		"custody key":     {KeyID: "vault-1", Session: "drill-1", Digest: d[:], Raw: true},
		"a chosen digest": {KeyID: "canary-1", Session: "drill-1", Digest: make([]byte, 32), Raw: true},
	} {
		if got := custody.DecideJoin(pol, p, custody.JoinFacts{}); got.Verdict != custody.JoinRefuse || !errors.Is(got.Cause, custody.ErrRawDigestRefused) {
			t.Errorf("%s: %s %v", name, got.Verdict, got.Cause)
		}
	}
}

func TestSessionName(t *testing.T) {
	n := custody.SessionName{Request: strings.Repeat("0f", 32), Input: 7, Attempt: "a1b2"}
	got, err := custody.ParseSessionName(n.String())
	if err != nil || got != n {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, s := range []string{"", "x", "x/0", "x/0/", "/0/a", "x/-1/a", "x/01/a", "x/+1/a", "x/1/a/b", strings.Repeat("x", 300) + "/0/a"} {
		if _, err := custody.ParseSessionName(s); !errors.Is(err, custody.ErrMalformed) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// ../shared/SECURITY.md scenarios 8 and 27 (../shared/SECURITY.md), issue 12: one signer of
// record assigns an EVM account's nonces for a signing pair (the
// custodian whenever it signs, else the exchange). The custodian refuses
// an EVM plan the exchange proposes (a nonce it did not assign), on its
// own attempt too if it were not the assigner; the exchange joins the
// custodian's plan; a Bitcoin plan from either is not affected.
func TestDecideJoinEVMNonceAssigner(t *testing.T) {
	plan := &custody.EVMPlan{ChainID: 1337, Nonce: 4, Gas: 60_000, MaxFeePerGas: "2000000000", MaxPriorityFeePerGas: "1000000000"}
	for pair, want := range map[[2]custody.Party]custody.Party{
		{custody.Custodian, custody.Exchange}:  custody.Custodian,
		{custody.Exchange, custody.Custodian}:  custody.Custodian,
		{custody.Regulator, custody.Custodian}: custody.Custodian,
		{custody.Regulator, custody.Exchange}:  custody.Exchange,
	} {
		if got := custody.NonceAssigner(pair[:]); got != want {
			t.Errorf("assigner of %v: %s, want %s", pair, got, want)
		}
	}
	// The custodian's view of the exchange's proposal.
	pol, prop, f := joinCase(t)
	prop.Request = prop.Request.WithEVMPlan(plan)
	prop.Session = prop.Request.ID() + "/0/a1"
	if d := custody.DecideJoin(pol, prop, f); d.Verdict != custody.JoinRefuse || !strings.Contains(d.Reason, "assigns this pair's nonces") {
		t.Errorf("custodian, the exchange's EVM plan: %s %q", d.Verdict, d.Reason)
	}
	// The exchange's view of the custodian's proposal: it joins.
	pol.Party = custody.Exchange
	d := custody.DecideJoin(pol, prop, f)
	if d.Verdict != custody.JoinYes || d.Partner != custody.Custodian || !d.Reserve {
		t.Errorf("exchange, the custodian's EVM plan: %s %q partner %s reserve %v", d.Verdict, d.Reason, d.Partner, d.Reserve)
	}
	// The exchange's own attempt with an EVM plan: not the assigner.
	f.OwnAttempt = "a1"
	if d := custody.DecideJoin(pol, prop, f); d.Verdict != custody.JoinRefuse || !strings.Contains(d.Reason, "proposed by exchange") {
		t.Errorf("exchange's own EVM attempt: %s %q", d.Verdict, d.Reason)
	}
}
