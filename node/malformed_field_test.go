package node

import (
	"context"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/triad-custody/triad/tss"
)

// zeroMtACiphertext rewrites a frame carrying a round-1 MtA message so that
// its Paillier ciphertext is 0; other frames pass unchanged.
func zeroMtACiphertext(t *testing.T, b []byte) []byte {
	f, err := decodeFrame(b)
	if err != nil || f.Envelope == nil || f.Envelope.Type != string(proto.MessageName(&signing.SignRound1Message1{})) {
		return b
	}
	var a anypb.Any
	if err := proto.Unmarshal(f.Envelope.Payload, &a); err != nil {
		t.Error(err)
		return b
	}
	var m signing.SignRound1Message1
	if err := a.UnmarshalTo(&m); err != nil {
		t.Error(err)
		return b
	}
	m.C = []byte{0}
	if err := a.MarshalFrom(&m); err != nil {
		t.Error(err)
		return b
	}
	if f.Envelope.Payload, err = proto.Marshal(&a); err != nil {
		t.Error(err)
		return b
	}
	out, err := encodeFrame(f)
	if err != nil {
		t.Error(err)
		return b
	}
	return out
}

// ../shared/SECURITY.md scenario 25: a signing partner sets the Paillier ciphertext of its
// round-1 MtA message to zero. tss-lib v2.0.2 would crash the honest node
// on a goroutine of its own (SIGSEGV, the whole test binary on the old
// code). The honest node aborts the attempt naming the partner, records an
// incident, signs with the other partner and keeps serving.
func TestZeroCiphertextPartnerBlamedNodeServes(t *testing.T) {
	net, nodes := memCluster(t, clusterOpts{withShares: true})
	net.Intercept(func(from, to string, f []byte) [][]byte {
		if from == "exchange" && to == "custodian" {
			return [][]byte{zeroMtACiphertext(t, f)}
		}
		return [][]byte{f}
	})
	cust := nodes["custodian"]
	res, err := cust.Sign(context.Background(), signReq("zero ciphertext"))
	if err != nil {
		t.Fatal(err)
	}
	verifySig(t, fixturePub(t), res.Signature)
	if len(res.Attempts) < 2 {
		t.Fatalf("want a failed attempt with the exchange, then a signature: %+v", res.Attempts)
	}
	first := res.Attempts[0]
	if !contains(first.Signers, "exchange") || len(first.Culprits) != 1 || first.Culprits[0] != "exchange" {
		t.Fatalf("first attempt should blame the exchange alone: %+v", first)
	}
	var found bool
	for _, inc := range cust.Incidents() {
		if inc.Protocol == string(tss.Sign) && len(inc.Culprits) == 1 && inc.Culprits[0] == "exchange" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no incident blaming the exchange: %+v", cust.Incidents())
	}
	// The node keeps serving: with the partner honest again, the same pair
	// signs.
	net.Intercept(nil)
	again, err := cust.Sign(context.Background(), signReq("after the attack"))
	if err != nil {
		t.Fatal(err)
	}
	verifySig(t, fixturePub(t), again.Signature)
}
