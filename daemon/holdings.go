package daemon

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

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
// key in its policy, gets an attester that signs with the node rt.
// The view reads the node's Bitcoin node and its EVM nodes (evm.chains);
// it is nil with neither.
func holdingsWiring(cfg *Config, rt *node.Runtime, chains *settle.Chains, svc *service.Service) (auth node.Authorizer, att *holdings.Attester, view *holdings.View) {
	settler := chains.BTC
	v := holdings.View{Policy: cfg.Policy, EVM: chains.EVM, Open: holdings.OpenIn(svc.Store())}
	if chain, ok := settler.Chain().(holdings.Chain); ok && chain != nil {
		v.Network, v.Chain, v.Addresses = settler.Network(), chain, settler
		v.Reserved = func(ins []custody.Input) ([]custody.Input, error) { return svc.Store().Reserved("", ins) }
	}
	auth = holdings.Authorizer{Policy: cfg.Policy, View: v, Next: svc}
	if v.Chain == nil && len(v.EVM) == 0 {
		return auth, nil, nil
	}
	if cfg.Policy.Party == custody.Custodian {
		for _, k := range cfg.Policy.Keys {
			if k.Role == custody.RoleAttestation {
				att = &holdings.Attester{KeyID: k.ID, View: v, Signer: rt.Node, Keys: rt.Keys,
					File: filepath.Join(cfg.Resolve(cfg.DataDir), holdingsFile)}
				break
			}
		}
	}
	return auth, att, &v
}

// creditBook is the exchange's node's book of verified proofs and prices
// (POST /v1/credit records into it) that its liquidations are checked
// against; nil on the other nodes, and where the policy names no price key.
func creditBook(cfg *Config) *holdings.CreditBook {
	if cfg.Policy.Party != custody.Exchange || len(cfg.Policy.PriceKeys) == 0 {
		return nil
	}
	return &holdings.CreditBook{Policy: cfg.Policy}
}

// holdingsFile keeps the custodian's latest signed snapshot in data_dir.
const holdingsFile = "holdings-snapshot.json"

// runAttester restores the custodian's latest signed snapshot and takes
// one at every scheduled time (policy.holdings_snapshot_every) until ctx
// ends.
func runAttester(ctx context.Context, att *holdings.Attester, every time.Duration, log *slog.Logger) {
	if err := att.Restore(ctx); err != nil {
		log.Warn("holdings snapshot not restored", "err", err)
	}
	go att.Run(ctx, every, time.Minute, log.With("component", "holdings"), nil)
}

// startReconciler lets this node answer its peers' requests for its
// holdings view and, on the regulator's node, reconciles the three views at
// every policy.reconcile_every (default 00:00 and 12:00 UTC), recording the
// outcome on its audit chain.
func startReconciler(ctx context.Context, cfg *Config, view *holdings.View, rt *node.Runtime, svc *service.Service, log *slog.Logger) *holdings.Reconciler {
	r := &holdings.Reconciler{Party: cfg.Party, View: *view, Net: rt.Node, Audit: svc.Store().Audit(),
		Incidents: rt.Node, Log: log.With("component", "holdings")}
	r.Start()
	if cfg.Policy.Party != custody.Regulator {
		return r
	}
	every := cfg.Policy.ReconcileEvery
	if every == 0 {
		every = custody.DefaultReconcileEvery
	}
	go r.Run(ctx, every, 2*time.Minute, nil)
	return r
}
