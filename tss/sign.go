package tss

import (
	"fmt"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/btcsuite/btcd/btcec/v2"
)

// SignConfig describes one signing attempt by a set of signers.
type SignConfig struct {
	Config
	Share *KeyShare
	// Signers are the nodes that sign; exactly Threshold+1 of the share's
	// holders, self included.
	Signers []string
	Digest  [32]byte
	// Delta, when set, is a BIP32 non-hardened derivation tweak: the
	// signature is by the child key parent+Delta·G.
	Delta *big.Int
}

// NewSignSession prepares a signing run. Its result is Signature.
func NewSignSession(c SignConfig) (*Session, error) {
	if c.Share == nil {
		return nil, fmt.Errorf("%w: no key share", ErrConfig)
	}
	if len(c.Signers) != c.Share.Threshold+1 {
		return nil, fmt.Errorf("%w: %d signers for a %d-of-%d key", ErrConfig, len(c.Signers), c.Share.Threshold+1, len(c.Share.Parties))
	}
	var parties []Party
	for _, n := range c.Signers {
		p, ok := c.Share.partyFor(n)
		if !ok {
			return nil, fmt.Errorf("%w: signer %q holds no share of %s", ErrConfig, n, c.Share.KeyID)
		}
		parties = append(parties, p)
	}
	s, err := newSession(c.Config, Sign, c.Share.Threshold, parties)
	if err != nil {
		return nil, err
	}
	ids := s.sortedTSSIDs(parties)
	params := tsslib.NewParameters(tsslib.S256(), tsslib.NewPeerContext(ids), s.tssIDs[c.Self.ID], len(ids), c.Share.Threshold)
	key := keygen.BuildLocalSaveDataSubset(c.Share.Data, ids)
	for j, id := range ids {
		if j >= len(key.PaillierPKs) || j >= len(key.NTildej) || key.PaillierPKs[j] == nil ||
			key.PaillierPKs[j].N == nil || key.NTildej[j] == nil {
			return nil, fmt.Errorf("%w: share %s lacks the Paillier parameters of %s", ErrConfig, c.Share.KeyID, s.byTSSID[id.Id])
		}
		s.pub[s.byTSSID[id.Id]] = &pubParams{N: key.PaillierPKs[j].N, NTilde: key.NTildej[j]}
	}
	pub, err := c.Share.PublicKey()
	if err != nil {
		return nil, err
	}
	if c.Delta != nil {
		child, err := childKey(pub, c.Delta)
		if err != nil {
			return nil, err
		}
		keys := []keygen.LocalPartySaveData{key}
		if err := signing.UpdatePublicKeyAndAdjustBigXj(c.Delta, keys, child.ToECDSA(), tsslib.S256()); err != nil {
			return nil, fmt.Errorf("%w: applying derivation tweak: %v", ErrConfig, err)
		}
		key, pub = keys[0], child
	}
	end := make(chan *common.SignatureData, 1)
	m := new(big.Int).SetBytes(c.Digest[:])
	s.party = signing.NewLocalPartyWithKDD(m, params, key, c.Delta, s.out, end, len(c.Digest))
	s.recipients = func(r *tsslib.MessageRouting) []string {
		if r.To != nil {
			return s.othersThan(r.To)
		}
		return s.othersThan(ids)
	}
	if len(ids) >= 3 {
		s.echoPeers = s.othersThan(ids)
	}
	s.finished = func() bool {
		select {
		case d := <-end:
			s.sigResult = &Signature{R: new(big.Int).SetBytes(d.R), S: new(big.Int).SetBytes(d.S), Digest: c.Digest}
			if len(d.SignatureRecovery) > 0 {
				s.sigResult.Recovery = d.SignatureRecovery[0]
			}
			if !s.sigResult.Verify(pub) {
				s.sigResult = nil
				s.abort(fmt.Errorf("%w: signature does not verify under the group key", ErrProtocol))
			}
			return true
		default:
			return false
		}
	}
	return s, nil
}

// childKey returns pub + delta·G.
func childKey(pub *btcec.PublicKey, delta *big.Int) (*btcec.PublicKey, error) {
	if delta.Sign() < 0 || delta.Cmp(btcec.S256().N) >= 0 {
		return nil, fmt.Errorf("%w: derivation tweak out of range", ErrConfig)
	}
	var d btcec.ModNScalar
	d.SetByteSlice(delta.Bytes())
	var p, dg, sum btcec.JacobianPoint
	pub.AsJacobian(&p)
	btcec.ScalarBaseMultNonConst(&d, &dg)
	btcec.AddNonConst(&p, &dg, &sum)
	if (sum.X.IsZero() && sum.Y.IsZero()) || sum.Z.IsZero() {
		return nil, fmt.Errorf("%w: derived key is the point at infinity", ErrConfig)
	}
	sum.ToAffine()
	return btcec.NewPublicKey(&sum.X, &sum.Y), nil
}

// Signature returns the signature once a signing session is done.
func (s *Session) Signature() (*Signature, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.result(); err != nil {
		return nil, err
	}
	if s.sigResult == nil {
		return nil, fmt.Errorf("%w: %s session has no signature", ErrConfig, s.protocol)
	}
	return s.sigResult, nil
}
