package custody_test

import (
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
)

// The unfreeze drill: an emergency unfreeze from a canary account waits
// canary_notice_period; the same policy still makes a custody-key
// unfreeze wait the full notice_period, and refuses any other kind on the
// canary account.
func TestCanaryNoticePeriodOnlyForCanaryKeys(t *testing.T) {
	p := loadPolicy(t)
	p.CanaryNoticePeriod = 30 * time.Second
	p.Accounts = append(p.Accounts, custody.Account{ID: "canary-acct", KeyID: "canary-1", OwnerAddress: "bc1qcanaryowner"})
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	opened := func(req custody.Request, age time.Duration) custody.State {
		return custody.State{Progress: custody.Progress{
			Timeline:  custody.Timeline{FirstSeen: epoch, Witnessed: age},
			Approvals: map[custody.Party]custody.Endorsement{custody.Custodian: {Party: custody.Custodian, Stance: custody.Approve, Operator: "alice"}, custody.Exchange: {Party: custody.Exchange, Stance: custody.Approve, Operator: "bob"}},
		}}
	}
	canary := custody.Request{Kind: custody.KindUnfreeze, IdempotencyKey: "drill-1", Requester: custody.Requester{Party: custody.Custodian, Caller: "ops"},
		Account: "canary-acct", KeyID: "canary-1", Asset: "BTC", Destination: "bc1qcanaryowner", Amount: 1000, FeeRate: 1, Reason: "unfreeze drill", CreatedAt: epoch}
	custodyKey := sampleRelease()
	custodyKey.Kind, custodyKey.Reason = custody.KindUnfreeze, "real"

	if d := custody.Evaluate(p, opened(canary, 29*time.Second), canary, epoch.Add(29*time.Second)); !d.Has(custody.ReasonTooEarly) {
		t.Fatalf("canary unfreeze at 29s: %v", d)
	}
	if d := custody.Evaluate(p, opened(canary, 31*time.Second), canary, epoch.Add(31*time.Second)); d.Verdict != custody.VerdictApprove || !d.Ready {
		t.Fatalf("canary unfreeze at 31s: %v", d)
	}
	// The day's settlements are spent: the drill is outside the cap, a
	// custody-key unfreeze is not.
	spent := func(req custody.Request, age time.Duration) custody.State {
		st := opened(req, age)
		st.Settlements = map[string]int{custody.DayKey(epoch.Add(age)): p.SettlementsPerDay}
		return st
	}
	if d := custody.Evaluate(p, spent(canary, 31*time.Second), canary, epoch.Add(31*time.Second)); !d.Ready || d.Has(custody.ReasonDailyCap) {
		t.Fatalf("canary unfreeze with the day's settlements spent: %v", d)
	}
	if d := custody.Evaluate(p, spent(custodyKey, 25*time.Hour), custodyKey, epoch.Add(25*time.Hour)); !d.Has(custody.ReasonDailyCap) {
		t.Fatalf("custody-key unfreeze with the day's settlements spent: %v", d)
	}
	if d := custody.Evaluate(p, opened(custodyKey, time.Hour), custodyKey, epoch.Add(time.Hour)); !d.Has(custody.ReasonTooEarly) {
		t.Fatalf("custody-key unfreeze after 1h with a canary notice of 30s: %v", d)
	}
	release := canary
	release.Kind, release.Reason = custody.KindRelease, ""
	if d := custody.Evaluate(p, opened(release, time.Hour), release, epoch.Add(time.Hour)); !d.Has(custody.ReasonKey) {
		t.Fatalf("release from a canary account: %v", d)
	}
	if got := p.NoticeFor("vault-1"); got != 24*time.Hour {
		t.Fatalf("custody notice %v", got)
	}
	p.Keys = []custody.KeyConfig{{ID: "vault-1", Role: custody.RoleCustody}}
	p.Accounts = p.Accounts[:2]
	if err := p.Validate(); err == nil {
		t.Fatal("canary_notice_period without a canary key validated")
	}
}
