// Package recovery owns what an operator does on the worst day and
// rehearses on ordinary days:
//
//   - backup.go: a node's data dir (sealed shard, sealed identity, sealed
//     pre-params, state) exported as one file that stays sealed: a random
//     data key encrypts the bundle and the node's own HSM seals that key,
//     bound to the node's party. Restoring needs the same HSM key and the
//     same party, into an empty data dir. Every reshare re-keys the HSM
//     key, so a backup made before the last reshare is refused
//     (ErrStaleBackup): the shares in it are no longer in force.
//   - report.go: drill reports — steps, timings, verdict — in JSON and
//     Markdown, signed (ed25519) by each participating node's operator
//     key, so a regulator can check them later with Verify.
//   - reshare.go: helpers to build and sign reshare orders
//     (reshare.Spec, reshare.Approval) for `triad reshare`.
//   - resolve.go: the rule that ends an undecided reshare (Resolution): a
//     node with a pending share commits it when the others hold it in
//     force, discards it when they kept the old shares, and leaves it to
//     the operators when they disagree or none decided. Golden scripts in
//     testdata/resolve.txt (datadriven; -rewrite regenerates them).
//
// Resharing itself runs inside the nodes (package node, reshare.go); this
// package drives and records it. The drills themselves, and applying the
// resolution to a cluster, are package recovery/drill. Nothing here prints or logs key material:
// backups are opaque, reports carry only public data.
//
// A drill, in a dozen lines:
//
//	d := recovery.NewDrill("node-loss", id, time.Now)
//	d.Step("canary signature by exchange+regulator").End(detail, err)
//	rep := d.Finish()                         // verdict: pass when every step passed
//	a, err := recovery.SignWith(rep, p, key)  // each participating node signs
//	err = rep.Attest(a)
//	err = rep.Verify(trusted, 2)              // later, by anyone holding the public keys
package recovery
