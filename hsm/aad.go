package hsm

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// AAD names what a sealed blob belongs to. Its canonical encoding is bound
// into every blob, so a shard copied to another node, party or key slot, or
// an older version put back in place of a newer one, does not unseal.
type AAD struct {
	Node    string // node name, e.g. "node-a"
	Party   string // tss party ID
	KeyID   string // group key ID or slot, e.g. "btc-cold/shard"
	Version uint32 // generation of the sealed object (bumped on reshare)
}

// aadDomain separates this encoding from any other use of the same key.
const aadDomain = "triad/hsm/aad/v1"

// maxAADField bounds each string field so the encoding stays small.
const maxAADField = 1024

// Encode returns the canonical encoding: the domain tag, then each string as
// a 4-byte big-endian length followed by its bytes, then Version as 4 bytes.
// Two different AADs never encode to the same bytes.
func (a AAD) Encode() []byte {
	n := 4 + len(aadDomain) + 4*4 + len(a.Node) + len(a.Party) + len(a.KeyID)
	b := make([]byte, 0, n)
	for _, s := range []string{aadDomain, a.Node, a.Party, a.KeyID} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return binary.BigEndian.AppendUint32(b, a.Version)
}

// Validate checks that Node and KeyID are set and no field is oversized.
func (a AAD) Validate() error {
	if a.Node == "" {
		return fmt.Errorf("%w: aad: node is empty", ErrConfig)
	}
	if a.KeyID == "" {
		return fmt.Errorf("%w: aad: key id is empty", ErrConfig)
	}
	for name, s := range map[string]string{"node": a.Node, "party": a.Party, "key id": a.KeyID} {
		if len(s) > maxAADField {
			return fmt.Errorf("%w: aad: %s longer than %d bytes", ErrConfig, name, maxAADField)
		}
	}
	return nil
}

// String is for logs; an AAD holds no secrets.
func (a AAD) String() string {
	return "node=" + strconv.Quote(a.Node) + " party=" + strconv.Quote(a.Party) +
		" key=" + strconv.Quote(a.KeyID) + " version=" + strconv.FormatUint(uint64(a.Version), 10)
}
