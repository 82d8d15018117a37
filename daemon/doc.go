// Package daemon is where a Triad node is wired, in one place: its
// configuration, assembled from each package's own section, and Run,
// which starts everything in the order it is needed and serves the API.
//
// The configuration file (configs/sample.yaml documents every key) is
// Config: node.Config (party, peers, libp2p, sessions, pre-params, HSM,
// log), api.Config (api), custody.Policy (policy), settle.BitcoinConfig
// (bitcoin) and settle.EVMConfig (evm). LoadConfig reads it strictly:
// unknown keys and TRIAD_ variables that are no key (configenv.go) are
// errors that name the key; ConfigSchemaKeys lists what it accepts.
//
// Run, as `triad node run` calls it:
//
//	cfg, err := daemon.LoadConfig(path)
//	err = daemon.Run(ctx, cfg, daemon.Options{Out: os.Stdout, Logger: log})
//
// and inside, nothing bound late:
//
//	HSM ─► unseal the identity (nothing written before it opens)
//	    ─► key store, custody store
//	    ─► settle.ForNode (Bitcoin) and settle.ChainsForNode (evm.chains)
//	       over both stores (the chains read the service's results there)
//	    ─► node.Start with the policy's KeygenRule and OperatorPublicKey
//	       (not serving yet)
//	    ─► custody service over the node (rt.Node, rt.Keys) with the
//	       chains' digests, finalizer, tracker
//	    ─► holdings authorizer in front of it and attester over the node
//	       (holdings.go); resharing (its steps on the audit chain:
//	       reshare_audit.go)
//	    ─► rt.Serve(authorizer): the node handles frames; svc.Start: the
//	       service talks to its peers; attester and reconciler run
//	    ─► the API until ctx ends (serve.go)
//
// A mistake the operator fixes in the config or the files and endpoints
// it names is a CallerError (the CLI exits 1).
package daemon
