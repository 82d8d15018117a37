package tss

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// Commit signatures: after a keygen, each participant signs a commit to
// the share it computed with its own secret share x_i, and every other
// participant verifies it against X_i = x_i·G, the public share its own
// key share lists for that participant. A commit is therefore bound to the
// keygen's outcome and to its signer, and can be relayed by anyone: no
// other key and no trust in the relaying peer is needed. ErrCommit is a
// commit that does not verify.
var ErrCommit = errors.New("tss: commit signature does not verify")

// KeygenCommitDigest is what a participant of a keygen signs: the session,
// the group key, the public view of the sharing (PublicView) and the
// signer.
func KeygenCommitDigest(sid SessionID, pub []byte, view [32]byte, node string) [32]byte {
	h := sha256.New()
	writeLP(h, []byte("triad/keygen-commit/v1"))
	writeLP(h, sid[:])
	writeLP(h, pub)
	writeLP(h, view[:])
	writeLP(h, []byte(node))
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// SignCommit signs d with this share's secret x_i (RFC 6979, DER). The
// signature reveals nothing of x_i.
func (k *KeyShare) SignCommit(d [32]byte) ([]byte, error) {
	if k == nil || k.Data.Xi == nil || k.Data.Xi.Sign() <= 0 || k.Data.Xi.Cmp(btcec.S256().N) >= 0 {
		return nil, errors.New("tss: key share has no usable secret share")
	}
	var b [32]byte
	k.Data.Xi.FillBytes(b[:])
	priv, _ := btcec.PrivKeyFromBytes(b[:])
	clear(b[:])
	defer priv.Zero()
	return ecdsa.Sign(priv, d[:]).Serialize(), nil
}

// VerifyCommit checks that sig is node's signature of d under the public
// share this key share lists for node's participant.
func (k *KeyShare) VerifyCommit(node string, d [32]byte, sig []byte) error {
	p, ok := k.partyFor(node)
	if !ok {
		return fmt.Errorf("%w: %s holds no share of %s", ErrCommit, node, k.KeyID)
	}
	pub, err := k.publicShare(p.Key())
	if err != nil {
		return err
	}
	s, err := ecdsa.ParseDERSignature(sig)
	if err != nil || !s.Verify(d[:], pub) {
		return fmt.Errorf("%w: from %s", ErrCommit, node)
	}
	return nil
}

// publicShare is X_j of the participant whose tss-lib key is key.
func (k *KeyShare) publicShare(key *big.Int) (*btcec.PublicKey, error) {
	for i, kj := range k.Data.Ks {
		if kj == nil || kj.Cmp(key) != 0 || i >= len(k.Data.BigXj) || k.Data.BigXj[i] == nil {
			continue
		}
		var x, y btcec.FieldVal
		if x.SetByteSlice(k.Data.BigXj[i].X().Bytes()) || y.SetByteSlice(k.Data.BigXj[i].Y().Bytes()) {
			break
		}
		pub := btcec.NewPublicKey(&x, &y)
		if !pub.IsOnCurve() {
			break
		}
		return pub, nil
	}
	return nil, fmt.Errorf("%w: no valid public share for the participant", ErrCommit)
}
