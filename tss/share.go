package tss

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/btcsuite/btcd/btcec/v2"
)

// KeyShare is one node's shard of a group key: tss-lib's saved data plus
// the metadata Triad needs to sign with it. It holds secret material: seal
// it at rest (package hsm) and never log it; String prints only public data.
type KeyShare struct {
	KeyID     string                    `json:"key_id"`
	Self      Party                     `json:"self"`
	Parties   []Party                   `json:"parties"`
	Threshold int                       `json:"threshold"`
	Data      keygen.LocalPartySaveData `json:"data"`
}

// PublicKey returns the group public key.
func (k *KeyShare) PublicKey() (*btcec.PublicKey, error) {
	if k == nil || k.Data.ECDSAPub == nil {
		return nil, errors.New("tss: key share has no public key")
	}
	var x, y btcec.FieldVal
	if x.SetByteSlice(k.Data.ECDSAPub.X().Bytes()) || y.SetByteSlice(k.Data.ECDSAPub.Y().Bytes()) {
		return nil, errors.New("tss: public key coordinate overflows the field")
	}
	pub := btcec.NewPublicKey(&x, &y)
	if !pub.IsOnCurve() {
		return nil, errors.New("tss: public key is not on secp256k1")
	}
	return pub, nil
}

// String prints the key ID and public key only.
func (k *KeyShare) String() string {
	pub, err := k.PublicKey()
	if err != nil {
		return fmt.Sprintf("KeyShare{%s, %s}", k.KeyID, k.Self.ID)
	}
	return fmt.Sprintf("KeyShare{%s, %s, pub %x}", k.KeyID, k.Self.ID, pub.SerializeCompressed())
}

// GoString keeps %#v from printing the secret.
func (k *KeyShare) GoString() string { return k.String() }

// MarshalShare encodes a share for sealing. The bytes are secret.
func MarshalShare(k *KeyShare) ([]byte, error) { return json.Marshal(k) }

// UnmarshalShare decodes a share and checks it is usable.
func UnmarshalShare(b []byte) (*KeyShare, error) {
	var k KeyShare
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("tss: decoding key share: %w", err)
	}
	if err := k.validate(); err != nil {
		return nil, err
	}
	return &k, nil
}

func (k *KeyShare) validate() error {
	switch {
	case k.KeyID == "":
		return errors.New("tss: key share has no key id")
	case k.Data.Xi == nil || k.Data.ShareID == nil || k.Data.ECDSAPub == nil:
		return fmt.Errorf("tss: key share %s is incomplete", k.KeyID)
	case len(k.Parties) != len(k.Data.Ks) || len(k.Parties) != len(k.Data.BigXj):
		return fmt.Errorf("tss: key share %s names %d parties for %d shares", k.KeyID, len(k.Parties), len(k.Data.Ks))
	case k.Threshold < 1 || k.Threshold >= len(k.Parties):
		return fmt.Errorf("tss: key share %s has threshold %d for %d parties", k.KeyID, k.Threshold, len(k.Parties))
	}
	_, err := k.PublicKey()
	return err
}

// Holders returns the node names that hold shares of the key.
func (k *KeyShare) Holders() []string {
	ns := make([]string, len(k.Parties))
	for i, p := range k.Parties {
		ns[i] = p.Node
	}
	return ns
}

// partyFor returns the participant that node plays for this key.
func (k *KeyShare) partyFor(node string) (Party, bool) {
	for _, p := range k.Parties {
		if p.Node == node {
			return p, true
		}
	}
	return Party{}, false
}
