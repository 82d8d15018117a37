package main

import (
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/holdings"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/node"
)

// holdingsWiring puts proofs of holdings (issue 13) in front of the custody
// service: every node's authorizer joins an attestation only when its own
// chain view gives the same snapshot, and keeps the attestation key to
// snapshots; the custodian's node, with a Bitcoin node and an attestation
// key in its policy, gets an attester (bound to the node once it runs).
func holdingsWiring(cfg *node.Config, settler *settle.Settler, svc *service.Service) (node.Authorizer, *holdings.Attester) {
	var view holdings.View
	if chain, ok := settler.Chain().(holdings.Chain); ok && chain != nil {
		view = holdings.View{Policy: cfg.Policy, Network: settler.Network(), Chain: chain, Addresses: settler,
			Reserved: func(ins []custody.Input) ([]custody.Input, error) { return svc.Store().Reserved("", ins) }}
	}
	auth := holdings.Authorizer{Policy: cfg.Policy, View: view, Next: svc}
	if view.Chain == nil || cfg.Policy.Party != custody.Custodian {
		return auth, nil
	}
	for _, k := range cfg.Policy.Keys {
		if k.Role == custody.RoleAttestation {
			return auth, &holdings.Attester{KeyID: k.ID, View: view}
		}
	}
	return auth, nil
}
