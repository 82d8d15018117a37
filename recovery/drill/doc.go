// Package drill runs Triad's recovery drills and the reshare resolution
// against a Cluster: a small interface of what a drill asks of the nodes
// (canary signatures, unseal checks, attestations, a reshare, custody
// requests and approvals, and a Watch that waits on a request's view).
//
//   - HTTP (http.go) reaches the nodes through their APIs; its Watch
//     follows the node's event stream (GET /v1/events?request=ID) and
//     re-reads the view on each event, never on a timer.
//   - Memory (memory.go) is the in-memory twin: three modelled nodes with
//     one group key, switches to stop a node or leave a reshare
//     undecided, and a fake clock that Watch moves to the next notice
//     deadline instead of waiting.
//
// Both pass one conformance test (conformance_test.go). The drills:
// NodeLoss, AllPairs, Unseal, Reshare and Unfreeze; each prints its steps
// to Config.Out, writes its report (JSON and Markdown) under
// Config.ReportDir, signed by every reachable node, and returns it.
// Unfreeze signs a canary digest, or, with a chain node for its asset, a
// real transaction of the canary account: coins on regtest, or an EVM
// transaction (no Bitcoin fee rate) whose broadcast it follows.
//
//	c := drill.NewHTTP(nodes)                      // or drill.NewMemory(...)
//	rep, err := drill.AllPairs(c, drill.Config{KeyID: "canary-1", Out: os.Stdout})
//	switch {
//	case errors.Is(err, drill.ErrFailed): // ran, a step failed (exit 1)
//	case errors.Is(err, drill.ErrUsage):  // the caller's mistake (exit 1)
//	case err != nil:                      // could not run (exit 2)
//	}
//
// The commit/discard rule of an undecided reshare is recovery.Resolution;
// ResolveReshare applies it to the cluster. Nothing here holds key
// material: operator keys stay with the caller (Operator.Sign), and
// reports carry only public data.
package drill
