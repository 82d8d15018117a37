package hsm

import "context"

// Rekeyer is implemented by every persistent backend (vault-transit,
// pkcs11, local) and by Memory. Re-keying replaces the sealing key, so that
// blobs sealed before it — a backup's, a lost disk's, a share from before a
// reshare — no longer open (../shared/SECURITY.md scenario 32). The steps are separate
// so that a crash between any two leaves every blob the node uses
// openable (../shared/SECURITY.md scenario 16):
//
//	Rotate   a new key becomes current: Seal uses it; blobs under older
//	         keys still unseal.
//	Rewrap   (Rewrapper) each blob is re-encrypted under the current key,
//	         with the same AAD.
//	Retire   every key older than the current one is refused from now on
//	         (Transit: min_decryption_version raised; PKCS#11: old key
//	         objects destroyed; local: old salts forgotten).
//
// Rotating again before Retire is allowed; Retire only ever keeps the
// current key.
type Rekeyer interface {
	Rewrapper
	Rotate(ctx context.Context) error
	Retire(ctx context.Context) error
	// KeyEpoch numbers the current key: it grows by one on each Rotate and
	// never goes back. A blob sealed at an epoch below the current one
	// predates the last re-key.
	KeyEpoch(ctx context.Context) (int, error)
}
