package drill

import (
	"context"
	"crypto/ed25519"
	"errors"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/recovery"
)

// Cluster is what a drill needs of the nodes: each call names the party
// whose node answers it. HTTP (the nodes' APIs) and Memory (an in-memory
// twin) implement it; both pass one conformance test.
type Cluster interface {
	// Parties are the nodes named to the drill, in node.DefaultParties order.
	Parties() []string
	// Policy is party's policy as its config states it.
	Policy(party string) (custody.Policy, bool)
	// Reachable is nil when party's API answers calls, else why not.
	Reachable(party string) error

	CanarySign(ctx context.Context, party string, req api.CanarySignRequest) (api.CanarySignResponse, error)
	UnsealCheck(ctx context.Context, party string) (api.UnsealCheckResponse, error)
	// Attest has party record rep on its audit chain and sign it.
	Attest(ctx context.Context, party string, rep *recovery.Report) (recovery.Attestation, error)
	// Reshare runs o from party's node, reporting each step to progress.
	Reshare(ctx context.Context, party string, o reshare.Order, progress func(reshare.Event)) (*reshare.Result, error)
	// Resolve ends an undecided reshare at party's node.
	Resolve(ctx context.Context, party string, r api.ResolveRequest) error

	Submit(ctx context.Context, party string, req custody.Request) (service.View, error)
	Get(ctx context.Context, party, id string) (service.View, error)
	// Endorse records a signed approval or veto at party's node, as its operator.
	Endorse(ctx context.Context, party string, a custody.Approval) (service.View, error)
	// Watch returns party's view of request id once cond holds (or cond
	// fails, or ctx ends); it re-reads the view when the node reports a
	// change, never on a timer. A node that does not know id yet is waited
	// for.
	Watch(ctx context.Context, party, id string, cond func(service.View) (bool, error)) (service.View, error)
}

// ErrNotFound is what Get returns (wrapped) for a request the node does
// not know.
var ErrNotFound = errors.New("drill: request not found")

// Operator signs approvals as one party's operator. Sign is handed the
// unsigned approval and returns it signed; the key stays with the caller.
type Operator struct {
	Party string
	Name  string
	Sign  func(custody.Approval) (custody.Approval, error)
}

// KeyOperator is an Operator holding its ed25519 key (tests, the twin).
func KeyOperator(party, name string, key ed25519.PrivateKey) Operator {
	return Operator{Party: party, Name: name, Sign: func(a custody.Approval) (custody.Approval, error) {
		return custody.SignApproval(a, key), nil
	}}
}
