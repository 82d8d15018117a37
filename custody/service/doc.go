// Package service runs Triad's custody actions across the three nodes. It
// owns nothing the core does not: custody decides (Evaluate, VerifyApproval,
// Transition), store persists, audit chains; this package moves requests,
// approvals, statuses, signatures and audit heads between nodes over the
// signing network's app messages, and decides when to sign.
//
// One Service per node. It is made over the node (its signing network and
// key store), and the node then serves with it as its signing Authorizer;
// nothing is bound after (package daemon does this, cfg being a
// daemon.Config):
//
//	rt, _ := node.Start(ctx, &cfg.Config, node.StartOptions{})       // not serving yet
//	svc, _ := service.Open(&cfg.Config, service.Options{Policy: cfg.Policy,
//		Network: rt.Node, Keys: rt.Keys})                             // store, policy, clock
//	_ = rt.Serve(svc)                                                // the node asks svc of every proposal
//	svc.Start()                                                      // app topic, resume, ticker
//	srv, _ := api.New(rt, api.Options{Custody: svc})
//
// The loop at every node, each on its own state and clock:
//
//	Submit (API) ─► store.Propose ─► "propose" to peers ─► step
//	Endorse (API, signed approval or veto) ─► VerifyApproval, AddApproval
//	    (nonce consumed) ─► "endorse" to peers ─► step
//	peer message ─► the same checks with this node's own policy ─► step
//	step: read own state and observations (peers' reports, who is
//	    reachable, live sessions) ─► custody.Step(policy, state, input,
//	    own clock) ─► execute its effects in order (flow.go):
//	    refuse: reject | veto | lapse (unless only time can lift it)
//	    auto:   record this party's automatic approval, tell peers
//	    ready:  approve; the coordinator (first signer in party order,
//	            passing over a party that cannot sign now:
//	            custody.SigningPair)
//	            fixes the request's plan first (plan.go: coins chosen on
//	            its own Bitcoin node and reserved in its store, or for an
//	            EVM asset the nonce, fees and gas chosen on its own EVM
//	            node, custody.EVMPlan, stored by store.PlanEVM; a request
//	            whose coins cannot be had waits, saying why, and spends no
//	            attempt), queues it behind MaxAttempts attempts in flight,
//	            then begins an attempt and calls node.Sign with the
//	            canonical request and its plan as payload, one session per
//	            digest named custody.SessionName; every signer's
//	            AuthorizeSign (the coordinator's for its own proposal too)
//	            gathers its facts (its Digester's digests, the plan checked
//	            on its own Bitcoin node, its store, its clock, the session it
//	            joined), asks custody.DecideJoin, and acts on the answer:
//	            reserve the plan (and only now hold an EVM plan's nonce:
//	            Chain.Hold), move the request to signing, remember the
//	            session as live for one sign timeout on its own clock; at
//	            most one live session per request and digest
//	    liquidations with a Batcher (not those paid on an EVM chain,
//	    Chain.Batches): the coordinator queues them instead
//	    and cuts a liquidation batch per window or size limit
//	    (batch_flow.go), up to 3 batches signing at once in the node's
//	    MaxAttempts slots (batch_run.go): one node.Sign per input of the
//	    batch transaction, the batch document as payload; a failed input
//	    is tried again and the signatures made are kept; the partner
//	    (batch_authorize.go) checks every member's coins on its own
//	    Bitcoin node (a bounded number at once, once per run), judges
//	    every member itself (custody.DecideBatchMember; once per run,
//	    again only when a member's stored state changed) and names each
//	    one it refuses, which the next batch leaves out; a member whose
//	    input cannot be signed fails alone; each member gets a result
//	    carrying the batch, whose signatures a peer verifies once per
//	    batch
//	outcome: how the attempt ended (signed, failed, a peer's verified
//	    signature, a restart, a refused begin, the broadcast's return, the
//	    chain node's answer) goes back into custody.Step as
//	    StepInput.Outcome; the service executes what it asks (outcomeLocked,
//	    flow.go): a failed attempt is aborted, and fails the request once
//	    its attempts are spent
//	signed: the coordinator verifies and stores the signature, tells peers;
//	    every peer verifies it against its own digest before recording it;
//	    the coordinator's Finalizer broadcasts, and a node with a Bitcoin
//	    node (Tracker) records the request done once a block of its own
//	    node holds the transaction (done means paid)
//	Tick: cut a due liquidation batch; witness monotonic time, report clock jumps, re-evaluate the open
//	    requests that are due or changed (notice periods, lapses, retries;
//	    unchanged ones back off from a tick to a minute: due.go), offer and
//	    query peers about open requests when due (offer.go, the same
//	    backoff), exchange audit heads, follow done requests' transactions
//	    (Tracker: txid, confirmations; a request is stepped when they
//	    change); the regulator reconciles audit chains on its schedule.
//
// A node outside a kind's quorum (the regulator for releases and
// liquidations) observes: it records every fact and the verified
// signature, never signs.
//
// Custody messages are versioned with the node's peer protocol
// (node/versions.go, messages.go): each is sent in the version the node
// speaks to its receiver, and one of a version outside this node's range
// is refused, naming both.
package service
