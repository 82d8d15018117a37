// Package hsmadmin is what `triad hsm init`, `triad hsm status` and the
// commands that open a node's HSM outside the daemon share: Open (the
// configured sealer), Init (create the node's sealing key if absent:
// PKCS#11 AES-256 non-extractable, Transit derived aes256-gcm96), Status
// (health, key versions, and every sealed file's backend and key version,
// read from its header without unsealing), Rewrap (`triad shard rewrap`:
// rotate the Transit key, rewrap every sealed file), Describe (the backend and where
// its key lives, no secrets).
//
// A configuration or secret-source mistake wraps hsm.ErrConfig (the CLI's
// exit 1); anything else is the environment's failure.
package hsmadmin
