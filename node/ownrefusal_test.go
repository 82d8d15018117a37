package node

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Issue 10, item 8 (../shared/SECURITY.md scenario 21): the coordinator's own policy refusal is
// reported as such (ErrPolicyRefused), not as failed attempts: no partner
// hears of it, no other pair is tried, no incident recorded. A partner's
// refusal stays a failed attempt (ErrNoSigners).
func TestOwnPolicyRefusalNoFailover(t *testing.T) {
	req := signReq("refused at home")
	_, nodes := memCluster(t, clusterOpts{withShares: true, authorizer: func(p string) Authorizer {
		if p == "exchange" {
			return refuseDigest{bad: req.Digest}
		}
		return AllowAll{}
	}})
	res, err := nodes["exchange"].Sign(context.Background(), req)
	if !errors.Is(err, ErrPolicyRefused) || errors.Is(err, ErrNoSigners) {
		t.Fatalf("own refusal: %v", err)
	}
	if res != nil && len(res.Attempts) != 0 {
		t.Fatalf("own refusal reported as %d attempt(s): %+v", len(res.Attempts), res.Attempts)
	}
	if inc := nodes["exchange"].Incidents(); len(inc) != 0 {
		t.Fatalf("own refusal recorded as incidents: %+v", inc)
	}
	for _, p := range []string{"custodian", "regulator"} {
		if n := nodes[p].Counters()["declined_sign"]; n != 0 {
			t.Fatalf("%s heard of a proposal its coordinator refused (%d declines)", p, n)
		}
	}
	// The exchange as partner declines; the custodian fails over to the regulator.
	res, err = nodes["custodian"].Sign(context.Background(), req)
	if err != nil || len(res.Attempts) != 2 || strings.Join(res.Signers, "+") != "custodian+regulator" {
		t.Fatalf("a partner's refusal then failover: %v %+v", err, res)
	}
}
