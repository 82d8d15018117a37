package node

import (
	"context"
	"testing"
	"time"
)

// A node made without an authorizer (the daemon makes its authorizer, the
// custody service, over the node) signs nothing until Serve gives it one;
// then it signs, and a second Serve is refused. On the old code New
// refused a node without an authorizer, so the service was made first
// and bound to the node after it started (issue 11 item 4).
func TestServeGivesTheAuthorizer(t *testing.T) {
	_, nodes := memCluster(t, clusterOpts{withShares: true, authorizer: func(p string) Authorizer {
		if p == "custodian" {
			return nil
		}
		return AllowAll{}
	}})
	n := nodes["custodian"]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := signReq("before serving")
	req.Partner, req.Only = "exchange", true
	if _, err := n.Sign(ctx, req); err == nil {
		t.Fatal("a node not serving yet signed")
	}
	if err := n.Serve(nil); err == nil {
		t.Fatal("served without an authorizer")
	}
	if err := n.Serve(AllowAll{}); err != nil {
		t.Fatal(err)
	}
	res, err := n.Sign(ctx, signReq("serving"))
	if err != nil {
		t.Fatal(err)
	}
	verifySig(t, fixturePub(t), res.Signature)
	if err := n.Serve(AllowAll{}); err == nil {
		t.Fatal("a serving node took a second authorizer")
	}
	if err := nodes["exchange"].Serve(AllowAll{}); err == nil {
		t.Fatal("a node made with an authorizer took another")
	}
}
