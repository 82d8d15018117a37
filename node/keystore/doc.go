// Package keystore keeps a node's key shares sealed on disk and knows the
// sealed files of its data dir.
//
//   - store.go: Store, one sealed file per key (keys/<id>.share), bound by
//     AAD to the node, its party, the key ID and the share's generation;
//     unsealed shares are cached, and every use checks the sealer's
//     health first, so a node whose HSM is gone fails closed.
//   - pending.go: a reshare's new share, sealed beside the one in force
//     (keys/<id>.share.pending) until the commit puts it in force or it is
//     discarded; PendingKeys and PendingView for an undecided reshare.
//   - gen.go: the generation record (keys/<id>.gen), ShareGenerations
//     for backups, and Rekey, which rotates the sealing key after a
//     reshare and rewraps every sealed file so old blobs no longer unseal.
//   - datadir.go, sealed.go: the data dir's sealed files (identity,
//     pre-params, shares, pending shares) with the AAD each is bound to,
//     and RewrapSealed after a Transit key rotation.
//   - unseal.go: CheckUnseal, every share unsealed from disk, reported
//     by its public view only.
//
// The node (package node) opens one Store per data dir:
//
//	ks, _ := keystore.New(cfg.KeysDir(), cfg.Party, sealer)
//	_ = ks.Save(ctx, share)            // after a keygen
//	share, _ := ks.Load(ctx, keyID)    // before a signing session
//	_ = ks.SavePending(ctx, next)      // a reshare's new share
//	_, _ = ks.CommitPending(ctx, keyID) // at its commit; then ks.Rekey
package keystore
