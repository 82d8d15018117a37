// Package reshare is a node's resharing: it replaces one party's node
// (disk lost, compromised, or planned rotation) while the group key and
// every address stay the same.
//
//  1. Two parties' operators sign a Spec: which key, which party is
//     replaced, the replacement node's new libp2p peer ID, the group key.
//  2. A surviving node (the coordinator) checks the approvals, pins the new
//     peer ID for the replaced party, and proposes the reshare; every node
//     checks the approvals itself before it joins.
//  3. The two survivors are the old committee (under their current
//     participant IDs); all three nodes form the new committee under new
//     IDs ("custodian#2"). Each new member seals its new share as PENDING;
//     the old shares stay in force.
//  4. Every node sends the others a confirmation (the public view of its
//     new share), then echoes every confirmation it received. A node
//     commits only if all three confirmations and both echoes agree with
//     its own view: the pending share replaces the old one, which is
//     destroyed, the sealing key is re-keyed, and the new peer ID is
//     persisted. Any disagreement (an equivocated confirmation) aborts:
//     pending shares are discarded and the old committee can still sign.
//     A deadline with no decision keeps both, for an operator to resolve
//     (Engine.Resolve).
//
// The files follow the steps: spec.go (what is approved and reported),
// approvals.go and nonces.go (1: approvals and their single-use nonces),
// coordinate.go (2: the coordinator), proposal.go (2: a participant's
// checks), session.go (3: the local sessions), exchange.go and commit.go
// (4: confirmations and echoes; commit, abort or undecided), resolve.go
// (an operator's resolution of an undecided reshare).
//
// The package is written against Node (host.go): what it needs from the
// MPC node that runs it — the party set and clock, the key store and
// pre-params, frames on its topics and its proposals' routes, the session
// runner and the incidents. Package node implements it and keeps its
// public API (Node.Reshare, Node.EnableRecovery, Node.ResolveReshare and
// the Reshare* types) as thin delegations. Like node, it imports no
// custody package.
package reshare
