// Package custody is the pure core of Triad's custody actions: typed
// requests and their canonical encoding, each node's policy as a pure
// function, signed operator approvals and vetoes, the request state
// machine, and the clocks the timing rules depend on. It does no I/O:
// package store persists its types, package audit chains the record of
// them, and the node layer moves them between peers.
//
// Every node runs the same loop on its own state and its own clock:
//
//	req, err := custody.DecodeRequest(body)                // strict; bounded; never panics
//	entry, created, err := st.Propose(req, clock.Now())    // store: idempotent, first-seen time
//	for each signed approval a from an operator or a peer:
//		err := custody.VerifyApproval(policy, a, req, clock.Now())
//		st.AddApproval(id, a, clock.Now())                // nonce consumed: replays refused
//	req, state, _ := st.State(id, clock.Now())
//	out := custody.Step(policy, StepState{req, state, last}, observed, clock.Now())
//	for each effect of out, in order (stop at the first persist that fails):
//		persist: st.Apply(id, Event{Type: e.Event}, ...) or st.AddAutoApproval(...)
//		send:    tell peers this party's automatic approval
//		emit:    record and publish the decision (Evaluate's, inside Step)
//		sign:    begin an attempt with e.Partner, or queue it for a batch
//		note:    audit and emit a failure, emit a signature
//		finalize, track, publish: broadcast the signed transaction, follow
//		         it on this node's chain node, tell peers the status now
//	... sign (package tss) ...
//	out = custody.Step(policy, state, StepInput{Outcome: &o, ...}, clock.Now())
//	    o: the attempt signed or failed (declined, timed out), a peer's
//	    verified signature, a restart mid-attempt, a refused begin, the
//	    broadcast's return, the chain node's answer; executed as above
//	every tick: st.Witness(stopwatch.Lap()); if r := monitor.Check(); r.Jumped { report }
//
// Step (step.go) is the request state machine pure in the way raft's
// RawNode is: (policy, this node's state of the request, what it observed
// of its peers and sessions, its clock) → an ordered Output of effects.
// How a signing attempt or the settlement ended is an input too (Outcome,
// outcome.go): Step decides the retry, the attempts spent, signed, done,
// so the whole life of a request is Step's. The service only gathers the
// input and executes the Output, and the golden scripts in testdata drive
// the same function (datadriven; script_test.go; outcome.txt for the
// outcomes).
//
// Validate checks a request's structure with no policy; the policy's
// Policy.CheckFeeRate (in Evaluate, and at submission) decides the fee
// rate by the asset's chain: a Bitcoin transfer needs fee_rate, one of an
// asset on an EVM chain must carry none (its fees are the EVM plan's,
// under each node's evm.chains caps).
//
// A liquidation's margin call is held against this node's own credit
// figure for the account when it has one (State.Credit: the latest proof of
// holdings it verified and a fresh signed price): an exposure within the
// credit line is refused (credit_covers), no figure yet waits
// (credit_unknown, transient).
//
// Policy decisions never trust another party's clock. An emergency unfreeze
// is signable only when both the wall time since this node first stored it
// and the monotonic time it has itself witnessed (Timeline) exceed the
// notice period; a wall-clock jump (+49 h) or a restart cannot shorten it.
// It lapses when either measure, or the opener's own timestamp, reaches
// the lapse (48 h). ClockMonitor reports wall-clock jumps against the
// monotonic clock; ComparePeers against peers' reported times.
//
// Whether a node contributes a share to a signing session is one pure
// decision, DecideJoin (join.go): (policy, proposal, the facts the node
// gathered itself: its digests, its chain node's check of the plan, its
// state, its clock) → join with the exact key, child path and digest, or
// wait, or refuse with a reason. The service gathers and acts; nothing
// else decides. Sessions are named SessionName
// ("<request>/<input>/<attempt>").
//
// Raw-digest signing (drills) is only for canary keys and only over a
// drill message, SHA-256(DrillTag || nonce), which every signer
// recomputes: CheckRawDrill.
//
// An attestation key (RoleAttestation) signs proofs of holdings only
// (package holdings, whose authorizer admits nothing else on it): no
// account may be held by it, Evaluate refuses every transfer on it and
// CheckRawDigest the raw-digest path. Credit lines are priced from inputs
// signed by a key of PriceKeys, no older than PriceAge.
package custody
