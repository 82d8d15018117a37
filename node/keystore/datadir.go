package keystore

import (
	"path/filepath"

	"github.com/triad-custody/triad/hsm"
)

// Sealed files of a node's data dir, beside the key store's keys/.
const (
	IdentityFile  = "identity.sealed"  // the libp2p private key
	PreParamsFile = "preparams.sealed" // the pre-params pool
	KeysDir       = "keys"             // the key store
)

// DataDir is a node's data dir as far as its sealed files go: where it
// is and the party every file is bound to (the AAD's node and party).
type DataDir struct {
	Path  string
	Party string
}

// File is the sealed file name of the data dir, bound to what (the AAD's
// key ID, version 1).
func (d DataDir) File(s hsm.Sealer, name, what string) hsm.SealedFile {
	return hsm.SealedFile{Path: filepath.Join(d.Path, name), Sealer: s, AAD: hsm.AAD{Node: d.Party, Party: d.Party, KeyID: what, Version: 1}}
}

// Identity is the sealed libp2p identity; PreParams the sealed pool.
func (d DataDir) Identity(s hsm.Sealer) hsm.SealedFile {
	return d.File(s, IdentityFile, "libp2p-identity")
}

// PreParams is the sealed pre-params pool.
func (d DataDir) PreParams(s hsm.Sealer) hsm.SealedFile { return d.File(s, PreParamsFile, "preparams") }

// Keys is the key store's directory.
func (d DataDir) Keys() string { return filepath.Join(d.Path, KeysDir) }

// ValidName reports whether s may name a key, a party or a request: 1 to
// 128 letters, digits, '-', '_' or '.'.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
