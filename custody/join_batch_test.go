package custody_test

import (
	"strings"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
)

// ../shared/SECURITY.md scenario 8 (../shared/SECURITY.md), for a batch (issue 11: one
// signing decision): a batch partner decides on each member alone, from
// its own store and clock, with DecideJoin's policy and quorum checks; a
// refusal names why, and a fact still in flight is a wait.
func TestDecideBatchMember(t *testing.T) {
	batchFacts := func(t *testing.T) (custody.Policy, custody.Request, []custody.Party, custody.BatchMemberFacts) {
		pol, prop, f := joinCase(t)
		return pol, prop.Request, prop.Participants, custody.BatchMemberFacts{Status: custody.StatusApproved, State: f.State, Now: f.Now}
	}
	for name, c := range map[string]struct {
		change func(*[]custody.Party, *custody.BatchMemberFacts)
		want   custody.JoinVerdict
		reason string
	}{
		"approved, both operators": {func(*[]custody.Party, *custody.BatchMemberFacts) {}, custody.JoinYes, ""},
		"in another batch's signing": {func(_ *[]custody.Party, f *custody.BatchMemberFacts) {
			f.Status, f.State.Record.Status = custody.StatusSigning, custody.StatusSigning
		}, custody.JoinYes, ""},
		"signed here before": {func(_ *[]custody.Party, f *custody.BatchMemberFacts) {
			f.Status, f.Reason = custody.StatusSigned, "batch b1"
		}, custody.JoinRefuse, "signed here: batch b1"},
		"rejected here before": {func(_ *[]custody.Party, f *custody.BatchMemberFacts) { f.Status = custody.StatusRejected }, custody.JoinRefuse, "rejected here"},
		"state unreadable":     {func(_ *[]custody.Party, f *custody.BatchMemberFacts) { f.StateErr = errChain }, custody.JoinRefuse, "value differs"},
		"lapsed on stepping": {func(_ *[]custody.Party, f *custody.BatchMemberFacts) {
			f.State.Record.Status, f.State.Record.Reason = custody.StatusLapsed, "expired"
		}, custody.JoinRefuse, "lapsed here: expired"},
		"vetoed": {func(_ *[]custody.Party, f *custody.BatchMemberFacts) {
			f.State.Vetoes = map[custody.Party]custody.Endorsement{custody.Regulator: {}}
		}, custody.JoinRefuse, custody.ReasonVetoed},
		"created ahead of the clock": {func(_ *[]custody.Party, f *custody.BatchMemberFacts) { f.Now = epoch.Add(-time.Hour) }, custody.JoinWait, custody.ReasonFuture},
		"own operator not yet": {func(_ *[]custody.Party, f *custody.BatchMemberFacts) {
			delete(f.State.Approvals, custody.Custodian)
		}, custody.JoinWait, custody.ReasonOperatorApproval},
		"partner not approved here": {func(_ *[]custody.Party, f *custody.BatchMemberFacts) {
			delete(f.State.Approvals, custody.Exchange)
		}, custody.JoinWait, "not an approved quorum here yet"},
		"a pair without the approver": {func(p *[]custody.Party, _ *custody.BatchMemberFacts) {
			*p = []custody.Party{custody.Custodian, custody.Regulator}
		}, custody.JoinWait, "not an approved quorum here yet"},
	} {
		pol, req, parts, f := batchFacts(t)
		c.change(&parts, &f)
		d := custody.DecideBatchMember(pol, req, parts, f)
		if d.Verdict != c.want || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%s: %s %q, want %s %q", name, d.Verdict, d.Reason, c.want, c.reason)
		}
	}
}
