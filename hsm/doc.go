// Package hsm seals a node's secrets — its shard of the group key, its
// pre-params, its libp2p identity — so they never rest on disk in the clear.
// They are sealed by a key that never leaves the HSM (Vault Transit or a
// PKCS#11 token); a passphrase-based local backend exists for demos.
//
// # What it owns
//
//   - Sealer: Seal/Unseal with additional authenticated data, Health, Close
//     (the shape of go-kms-wrapping's Wrapper). Rewrapper adds Rewrap;
//     Rekeyer (every backend) adds Rotate, Retire and KeyEpoch, which a
//     reshare runs so that blobs sealed before it no longer open.
//   - AAD: what a blob belongs to (node, party, key ID, version), with a
//     canonical length-prefixed encoding. A shard copied to another node or
//     slot, or an old version put back, does not unseal.
//   - Backends: Vault (vault-transit), PKCS11 (pkcs11, cgo), Local
//     (argon2id + AES-256-GCM), Memory (tests, with failure switches).
//   - WriteFileAtomic and SealedFile: a crash mid-write leaves the previous
//     shard usable.
//   - Config / New: one plain struct (mapstructure tags) naming secrets by
//     environment variable or file, never holding them.
//
// # The loop
//
//	s, err := hsm.New(ctx, cfg.HSM)                 // logs in, checks the key
//	f := hsm.SealedFile{Path: p, Sealer: s, AAD: hsm.AAD{Node: "node-a", Party: "1", KeyID: "btc-cold", Version: 3}}
//	err = f.Write(ctx, shard)                        // seal, then atomic replace
//	shard, err := f.Read(ctx)                        // read, then unseal
//	ready := s.Health(ctx) == nil                    // readiness probe
//
// # Failing closed
//
// Every backend fails closed: when Vault or the token is unreachable, Seal,
// Unseal and Health return errors wrapping ErrUnavailable and nothing is
// written in the clear. The same Sealer recovers by itself once the backend
// is back: Vault re-logs in on 403 (re-reading token or AppRole secrets from
// their files), PKCS11 reopens sessions, logs in again and, when the token
// had vanished, re-initializes the library so it rescans its slots. Errors
// say what was being done and never contain plaintext, PINs, tokens or keys.
//
// # Blob format
//
// Every blob starts with "TRSB", format version 1 and a backend id, so a
// blob from one backend is refused by another with ErrWrongBackend. The
// header is authenticated with the AAD. See blob.go for the layout and each
// backend's file for its payload.
//
// # Vault Transit
//
// The node's key is created, if absent, as a derived aes256-gcm96 key; the
// blob header and AAD are the Transit context. (Vault 1.17's rewrap
// endpoint accepts context but not associated_data, and a non-derived key
// ignores the context, so non-derived and exportable keys are refused.)
// Rotation: Rotate, then Rewrap every blob (`triad shard rewrap`), then raise
// min_decryption_version; a blob left behind then fails with
// ErrVersionBelowMinimum. The least policy for node A's token:
//
//	path "transit/keys/triad-node-a"        { capabilities = ["read", "create", "update"] }
//	path "transit/keys/triad-node-a/rotate" { capabilities = ["update"] }
//	path "transit/keys/triad-node-a/config" { capabilities = ["update"] }
//	path "transit/encrypt/triad-node-a"     { capabilities = ["update"] }
//	path "transit/decrypt/triad-node-a"     { capabilities = ["update"] }
//	path "transit/rewrap/triad-node-a"      { capabilities = ["update"] }
//
// # PKCS#11
//
// InitPKCS11 (`triad hsm init`) generates the AES-256 key by label if absent
// (token object, sensitive, never extractable, encrypt/decrypt only);
// NewPKCS11 only finds it, and refuses an extractable key. Blobs are
// CKM_AES_GCM with a random 12-byte IV stored in the blob.
// A re-key generates the next key object, labelled "<label>#<epoch>",
// and Retire destroys the older ones (pkcs11_rekey.go).
//
// # Local
//
// The local key is argon2id of the passphrase, salted per blob and, with
// hsm.local.salt_file set, by the key epoch's salt in that file; a re-key
// replaces the salt (local_rekey.go). Without a salt file it cannot
// re-key.
//
// Tests: the conformance suite in hsm/hsmtest runs against every backend;
// hsm/vaulttest runs a real Vault server and hsm/softhsmtest a SoftHSM2
// token (see scripts/build-vault.sh and scripts/install-softhsm.sh).
package hsm
