package hsm

import (
	"bytes"
	"fmt"
)

// Blob layout, common to every backend:
//
//	offset 0  4 bytes  magic "TRSB"
//	offset 4  1 byte   format version (1)
//	offset 5  1 byte   backend id (1 memory, 2 local, 3 vault-transit, 4 pkcs11)
//	offset 6  ...      backend payload
//
// The 6-byte header is authenticated together with the AAD, so changing the
// header of a blob makes it fail to unseal.
const (
	blobMagic     = "TRSB"
	formatVersion = 1
	headerLen     = 6
	// maxSealed bounds input to Unseal before any parsing.
	maxSealed = 2*MaxPlaintext + 4096
)

type backendID byte

const (
	idMemory backendID = 1
	idLocal  backendID = 2
	idVault  backendID = 3
	idPKCS11 backendID = 4
)

func (id backendID) String() string {
	switch id {
	case idMemory:
		return BackendMemory
	case idLocal:
		return BackendLocal
	case idVault:
		return BackendVault
	case idPKCS11:
		return BackendPKCS11
	}
	return fmt.Sprintf("unknown(%d)", byte(id))
}

func newHeader(id backendID) []byte {
	return append([]byte(blobMagic), formatVersion, byte(id))
}

// splitBlob checks the header of sealed against the expected backend and
// returns the header and the payload (sub-slices of sealed).
func splitBlob(sealed []byte, want backendID) (header, payload []byte, err error) {
	if len(sealed) > maxSealed {
		return nil, nil, fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrMalformed, len(sealed), maxSealed)
	}
	if len(sealed) < headerLen {
		return nil, nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrMalformed, len(sealed))
	}
	if !bytes.Equal(sealed[:4], []byte(blobMagic)) {
		return nil, nil, fmt.Errorf("%w: not a triad sealed blob (bad magic)", ErrMalformed)
	}
	if sealed[4] != formatVersion {
		return nil, nil, fmt.Errorf("%w: version %d, this build reads %d", ErrUnsupportedFormat, sealed[4], formatVersion)
	}
	if got := backendID(sealed[5]); got != want {
		return nil, nil, fmt.Errorf("%w: blob is from %s, this sealer is %s", ErrWrongBackend, got, want)
	}
	return sealed[:headerLen], sealed[headerLen:], nil
}

// boundData is what the AEAD authenticates: the blob header (and any
// backend parameters before the ciphertext) followed by the caller's AAD.
func boundData(prefix, aad []byte) []byte {
	b := make([]byte, 0, len(prefix)+len(aad))
	return append(append(b, prefix...), aad...)
}

// BlobInfo describes a sealed blob without unsealing it.
type BlobInfo struct {
	Format     int    // blob format version
	Backend    string // backend that sealed it
	KeyVersion int    // Transit key version for vault-transit blobs, else 0
}

// Inspect reads a blob's header (and, for vault-transit, the key version)
// without contacting any backend. It does not authenticate the blob.
func Inspect(sealed []byte) (BlobInfo, error) {
	if len(sealed) < headerLen {
		return BlobInfo{}, fmt.Errorf("%w: %d bytes, shorter than the header", ErrMalformed, len(sealed))
	}
	id := backendID(sealed[5])
	if _, _, err := splitBlob(sealed, id); err != nil {
		return BlobInfo{}, fmt.Errorf("inspecting blob: %w", err)
	}
	info := BlobInfo{Format: int(sealed[4]), Backend: id.String()}
	switch id {
	case idMemory, idLocal, idPKCS11:
	case idVault:
		_, ct, err := parseVaultPayload(sealed[headerLen:])
		if err != nil {
			return BlobInfo{}, fmt.Errorf("inspecting blob: %w", err)
		}
		info.KeyVersion = ct.version
	default:
		return BlobInfo{}, fmt.Errorf("inspecting blob: %w: unknown backend id %d", ErrMalformed, byte(id))
	}
	return info, nil
}
