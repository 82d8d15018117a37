// Package audit is Triad's append-only audit chain: every node records what
// it saw and did (requests, approvals, vetoes, status changes, clock jumps)
// as a hash chain in its bbolt file.
//
// Each Record carries its sequence number, the previous record's hash, the
// node's time, a kind, the request ID, the party and the SHA-256 digest of
// the payload (never the payload itself, never key material). Its Hash is
// the SHA-256 of its canonical encoding. Verify finds any altered, removed
// or reordered record and names the seq; the head (seq, hash) is what nodes
// exchange so a copy held elsewhere pins the chain against truncation.
//
// The loop around it:
//
//	rec, err := audit.AppendTx(tx, audit.Entry{...}) // inside the store's own transaction
//	head, _ := chain.Head()                           // sent to peers / the regulator
//	d, _ := chain.CompareWith(peerHead)               // is a copy of our chain behind, equal, forked?
//	rep := audit.Reconcile(mine, theirs, audit.ReconcileOptions{Kinds: audit.SharedKinds})
//	// twice a day on the regulator node: mismatches are incidents
package audit
