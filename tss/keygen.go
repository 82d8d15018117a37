package tss

import (
	"fmt"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// KeygenConfig describes one distributed key generation.
type KeygenConfig struct {
	Config
	KeyID string
	// Parties are all future share holders; Threshold is tss-lib's t, so
	// t+1 parties sign (1 for 2-of-3).
	Parties   []Party
	Threshold int
	// PreParams are this party's own Paillier and safe-prime parameters.
	PreParams *keygen.LocalPreParams
}

// NewKeygenSession prepares a DKG run. Its result is KeyShare.
func NewKeygenSession(c KeygenConfig) (*Session, error) {
	if c.KeyID == "" {
		return nil, fmt.Errorf("%w: key id is empty", ErrConfig)
	}
	if c.Threshold < 1 || c.Threshold >= len(c.Parties) {
		return nil, fmt.Errorf("%w: threshold %d for %d parties", ErrConfig, c.Threshold, len(c.Parties))
	}
	if c.PreParams == nil || !c.PreParams.ValidateWithProof() {
		return nil, fmt.Errorf("%w: pre-params missing or invalid", ErrConfig)
	}
	s, err := newSession(c.Config, Keygen, c.Threshold, c.Parties)
	if err != nil {
		return nil, err
	}
	ids := s.sortedTSSIDs(c.Parties)
	s.pub[c.Self.ID] = preParamsPub(c.PreParams)
	params := tsslib.NewParameters(tsslib.S256(), tsslib.NewPeerContext(ids), s.tssIDs[c.Self.ID], len(ids), c.Threshold)
	end := make(chan *keygen.LocalPartySaveData, 1)
	s.party = keygen.NewLocalParty(params, s.out, end, *c.PreParams)
	s.recipients = func(r *tsslib.MessageRouting) []string {
		if r.To != nil {
			return s.othersThan(r.To)
		}
		return s.othersThan(ids)
	}
	s.echoPeers = s.othersThan(ids)
	parties := append([]Party(nil), c.Parties...)
	sortParties(parties)
	s.finished = func() bool {
		select {
		case data := <-end:
			s.keyResult = &KeyShare{KeyID: c.KeyID, Self: c.Self, Parties: parties, Threshold: c.Threshold, Data: *data}
			return true
		default:
			return false
		}
	}
	return s, nil
}

// KeyShare returns the new share once a keygen session is done.
func (s *Session) KeyShare() (*KeyShare, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.result(); err != nil {
		return nil, err
	}
	if s.keyResult == nil {
		return nil, fmt.Errorf("%w: %s session has no key share", ErrConfig, s.protocol)
	}
	return s.keyResult, nil
}

func preParamsPub(pp *keygen.LocalPreParams) *pubParams {
	return &pubParams{N: pp.PaillierSK.N, NTilde: pp.NTildei}
}
