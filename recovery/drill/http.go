package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/internal/apiclient"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/recovery"
)

// HTTPNode is one node of an HTTP cluster: its policy, an admin client
// (nil when its API cannot be reached, Err says why) and how to make an
// operator client for approvals (nil: Admin is used).
type HTTPNode struct {
	Party    string
	Policy   custody.Policy
	Admin    *apiclient.Client
	Operator func() (*apiclient.Client, error)
	Err      error
}

// HTTP is a Cluster of nodes reached through their APIs.
type HTTP struct {
	nodes map[string]HTTPNode
}

var _ Cluster = (*HTTP)(nil)

// NewHTTP is the cluster of nodes.
func NewHTTP(nodes []HTTPNode) *HTTP {
	h := &HTTP{nodes: map[string]HTTPNode{}}
	for _, n := range nodes {
		h.nodes[n.Party] = n
	}
	return h
}

// Parties implements Cluster.
func (h *HTTP) Parties() []string {
	var out []string
	for _, p := range node.DefaultParties {
		if _, ok := h.nodes[p]; ok {
			out = append(out, p)
		}
	}
	return out
}

// Policy implements Cluster.
func (h *HTTP) Policy(party string) (custody.Policy, bool) {
	n, ok := h.nodes[party]
	return n.Policy, ok
}

// Reachable implements Cluster.
func (h *HTTP) Reachable(party string) error {
	n, ok := h.nodes[party]
	switch {
	case !ok:
		return fmt.Errorf("no config for %s", party)
	case n.Admin == nil && n.Err != nil:
		return n.Err
	case n.Admin == nil:
		return fmt.Errorf("%s's API is not reachable", party)
	}
	return nil
}

func (h *HTTP) admin(party string) (*apiclient.Client, error) {
	if err := h.Reachable(party); err != nil {
		return nil, fmt.Errorf("%s's API is not reachable: %w", party, err)
	}
	return h.nodes[party].Admin, nil
}

// call is one JSON call to party's node as admin.
func (h *HTTP) call(ctx context.Context, party, method, path string, in, out any) error {
	cl, err := h.admin(party)
	if err != nil {
		return err
	}
	return cl.Do(ctx, method, path, in, out)
}

// CanarySign implements Cluster.
func (h *HTTP) CanarySign(ctx context.Context, party string, req api.CanarySignRequest) (api.CanarySignResponse, error) {
	var res api.CanarySignResponse
	err := h.call(ctx, party, "POST", "/v1/recovery/canary-sign", req, &res)
	return res, err
}

// UnsealCheck implements Cluster.
func (h *HTTP) UnsealCheck(ctx context.Context, party string) (api.UnsealCheckResponse, error) {
	var res api.UnsealCheckResponse
	err := h.call(ctx, party, "GET", "/v1/recovery/unseal-check", nil, &res)
	return res, err
}

// Attest implements Cluster.
func (h *HTTP) Attest(ctx context.Context, party string, rep *recovery.Report) (recovery.Attestation, error) {
	var a recovery.Attestation
	err := h.call(ctx, party, "POST", "/v1/recovery/attest", rep, &a)
	return a, err
}

// Resolve implements Cluster.
func (h *HTTP) Resolve(ctx context.Context, party string, r api.ResolveRequest) error {
	return h.call(ctx, party, "POST", "/v1/recovery/reshare/resolve", r, nil)
}

// Reshare implements Cluster: the node streams each step, then the result.
func (h *HTTP) Reshare(ctx context.Context, party string, o reshare.Order, progress func(reshare.Event)) (*reshare.Result, error) {
	cl, err := h.admin(party)
	if err != nil {
		return nil, err
	}
	var last api.ReshareLine
	err = cl.Stream(ctx, "POST", "/v1/recovery/reshare?stream=1", o, func(b []byte) error {
		var l api.ReshareLine
		if err := json.Unmarshal(b, &l); err != nil {
			return fmt.Errorf("the node's progress: %w", err)
		}
		if l.Step != nil {
			progress(*l.Step)
			return nil
		}
		last = l
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case last.Error != nil && last.Error.Status < 500:
		return nil, apiclient.UserError{Err: errors.New(last.Error.Message)}
	case last.Error != nil:
		return nil, errors.New(last.Error.Message)
	case last.Result == nil:
		return nil, errors.New("the node ended its answer without a result: the reshare's outcome is unknown; check `triad status` on every node")
	}
	return last.Result, nil
}

// Submit implements Cluster.
func (h *HTTP) Submit(ctx context.Context, party string, req custody.Request) (service.View, error) {
	var v service.View
	err := h.call(ctx, party, "POST", "/v1/requests", req, &v)
	return v, err
}

// Get implements Cluster; a request the node does not know is ErrNotFound.
func (h *HTTP) Get(ctx context.Context, party, id string) (service.View, error) {
	var v service.View
	err := h.call(ctx, party, "GET", "/v1/requests/"+id, nil, &v)
	if apiclient.IsNotFound(err) {
		return v, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return v, err
}

// Endorse implements Cluster, as party's operator when its node has an
// operator client.
func (h *HTTP) Endorse(ctx context.Context, party string, a custody.Approval) (service.View, error) {
	cl, err := h.admin(party)
	if err != nil {
		return service.View{}, err
	}
	if op := h.nodes[party].Operator; op != nil {
		if cl, err = op(); err != nil {
			return service.View{}, err
		}
	}
	var v service.View
	err = cl.Do(ctx, "POST", "/v1/requests/"+a.RequestID+"/approvals", a, &v)
	return v, err
}

// Watch implements Cluster on the node's event stream
// (apiclient.WatchRequest): never on a timer.
func (h *HTTP) Watch(ctx context.Context, party, id string, cond func(service.View) (bool, error)) (service.View, error) {
	cl, err := h.admin(party)
	if err != nil {
		return service.View{}, err
	}
	return cl.WatchRequest(ctx, id, cond)
}
