// Package store keeps one node's custody state in a bbolt file: requests by
// ID, the idempotency-key index, each request's progress (status, attempts,
// timeline, endorsements), seen approval nonces, margin-call evidence nonces,
// daily settlement counters, and the audit chain (package audit) in the same
// file. Every change and its audit record commit in one bbolt transaction,
// so a kill -9 leaves either both or neither. results.go adds what the
// custody service needs around that: List, the idempotency Lookup, and each
// request's signing result (PutResult/Result, opaque JSON of package
// service, stored with its audit record). batch.go keeps liquidation
// batches: each batch's document, the batch each member last joined, and
// the batch counted once against its daily cap (BeginBatch, idempotent per
// batch ID); a batch's results are stored all or none (PutResults).
// nonces.go keeps EVM nonce holds as plan.go keeps reserved outpoints: one
// nonce of an account per open request (HoldNonce), free again once the
// request ends unpaid, kept while it is paid.
//
// The node's loop around it:
//
//	e, created, err := st.Propose(req, clock.Now())         // idempotent on the idempotency key
//	req, state, _ := st.State(e.Request.ID(), clock.Now())  // own view, today's settlements
//	d := custody.Evaluate(policy, state, req, clock.Now())
//	if d.Auto { st.AddAutoApproval(id, policy.Party, now) }
//	if err := custody.VerifyApproval(policy, a, req, now); err == nil {
//		st.AddApproval(id, a, now)                           // consumes the nonce: replays fail
//	}
//	if d.Ready { st.Apply(id, custody.Event{Type: custody.EvBegin, ...}, policy.SettlementsPerDay) }
//	// on every tick: st.Witness(stopwatch.Lap())
package store
