package tss

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/big"
	"sort"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// Resharing moves a key from an old committee (threshold+1 of its current
// holders) to a new committee without ever assembling the key: the group
// public key, and so every address, stays the same, while every new share is
// fresh and does not combine with the old ones.
//
// One node may play a party in each committee (a surviving holder keeps
// its place under a new participant ID, e.g. "custodian" → "custodian#2");
// the two are separate sessions with the same session ID, and the transport
// hands an envelope to every local participant named in its To list.

// ReshareConfig describes one participant of a resharing run.
type ReshareConfig struct {
	Config
	KeyID string
	// OldParties is the old committee: exactly OldThreshold+1 holders of
	// the current key, with the participant IDs their shares carry.
	OldParties   []Party
	OldThreshold int
	// NewParties is the new committee; their IDs must differ from every
	// old participant's ID (tss-lib tells the committees apart by key).
	NewParties   []Party
	NewThreshold int
	// Share is this participant's current share; required when Self is in
	// the old committee, ignored otherwise. It is not modified.
	Share *KeyShare
	// PreParams are this participant's own pre-params; required when Self
	// is in the new committee.
	PreParams *keygen.LocalPreParams
	// PublicKey, when set (33-byte compressed), is the group key the new
	// committee must end up with: a new member refuses a result for any
	// other key, so an old committee cannot hand it a different key.
	PublicKey []byte
}

// Committee roles of a resharing message: who may send it, who receives it.
type committee int

const (
	oldC committee = 1 << iota
	newC
)

var reshareRoles = map[string]struct{ from, to committee }{
	name(&resharing.DGRound1Message{}):  {oldC, newC},
	name(&resharing.DGRound2Message1{}): {newC, newC},
	name(&resharing.DGRound2Message2{}): {newC, oldC},
	name(&resharing.DGRound3Message1{}): {oldC, newC},
	name(&resharing.DGRound3Message2{}): {oldC, newC},
	name(&resharing.DGRound4Message1{}): {newC, newC},
	name(&resharing.DGRound4Message2{}): {newC, oldC | newC},
}

// NewReshareSession prepares one participant of a resharing run. For a new
// committee member its result is the new KeyShare (ReshareResult); an
// old-committee-only member's result is just completion.
func NewReshareSession(c ReshareConfig) (*Session, error) {
	role, err := c.roles()
	if err != nil {
		return nil, err
	}
	all := append(append([]Party(nil), c.OldParties...), c.NewParties...)
	s, err := newSession(c.Config, Reshare, c.NewThreshold, all)
	if err != nil {
		return nil, err
	}
	self := role[c.Self.ID]
	key, err := c.input(s, self)
	if err != nil {
		return nil, err
	}
	oldIDs := s.sortedTSSIDs(c.OldParties)
	newIDs := s.sortedTSSIDs(c.NewParties)
	params := tsslib.NewReSharingParameters(tsslib.S256(), tsslib.NewPeerContext(oldIDs), tsslib.NewPeerContext(newIDs),
		s.tssIDs[c.Self.ID], len(c.OldParties), c.OldThreshold, len(c.NewParties), c.NewThreshold)
	end := make(chan *keygen.LocalPartySaveData, 1)
	s.party = resharing.NewLocalParty(params, key, s.out, end)
	s.recipients = reshareRecipients(s, role)
	s.admit = reshareAdmit(role, self, c.Self.ID)
	var echo []string
	for _, p := range all {
		if p.ID != c.Self.ID {
			echo = append(echo, p.ID)
		}
	}
	sort.Strings(echo)
	s.echoPeers = echo
	s.finished = reshareFinished(s, c, self, end)
	return s, nil
}

// roles checks c and returns each participant's committees.
func (c ReshareConfig) roles() (map[string]committee, error) {
	if c.KeyID == "" {
		return nil, fmt.Errorf("%w: key id is empty", ErrConfig)
	}
	if c.OldThreshold < 1 || len(c.OldParties) != c.OldThreshold+1 {
		return nil, fmt.Errorf("%w: old committee of %d for threshold %d", ErrConfig, len(c.OldParties), c.OldThreshold)
	}
	if c.NewThreshold < 1 || c.NewThreshold >= len(c.NewParties) {
		return nil, fmt.Errorf("%w: new threshold %d for %d parties", ErrConfig, c.NewThreshold, len(c.NewParties))
	}
	if c.PublicKey != nil && len(c.PublicKey) != 33 {
		return nil, fmt.Errorf("%w: expected public key must be 33 bytes compressed", ErrConfig)
	}
	role := map[string]committee{}
	for _, p := range c.OldParties {
		role[p.ID] |= oldC
	}
	for _, p := range c.NewParties {
		if role[p.ID]&oldC != 0 {
			return nil, fmt.Errorf("%w: participant %q is in both committees; give its new role a new ID", ErrConfig, p.ID)
		}
		role[p.ID] |= newC
	}
	return role, nil
}

// input is what this participant starts tss-lib with: an old member's
// share, or a new member's pre-params (whose public part s records).
func (c ReshareConfig) input(s *Session, self committee) (keygen.LocalPartySaveData, error) {
	switch self {
	case oldC:
		return oldInput(c)
	case newC:
		if c.PreParams == nil || !c.PreParams.ValidateWithProof() {
			return keygen.LocalPartySaveData{}, fmt.Errorf("%w: a new committee member needs valid pre-params", ErrConfig)
		}
		key := keygen.NewLocalPartySaveData(len(c.NewParties))
		key.LocalPreParams = *c.PreParams
		s.pub[c.Self.ID] = preParamsPub(c.PreParams)
		return key, nil
	}
	return keygen.LocalPartySaveData{}, nil
}

// reshareRecipients addresses a message to the members of the committees
// its routing flags name: every resharing message names its recipients.
func reshareRecipients(s *Session, role map[string]committee) func(r *tsslib.MessageRouting) []string {
	return func(r *tsslib.MessageRouting) []string {
		want := newC
		switch {
		case r.IsToOldAndNewCommittees:
			want = oldC | newC
		case r.IsToOldCommittee:
			want = oldC
		}
		var to []string
		for _, p := range s.othersThan(r.To) {
			if role[p]&want != 0 {
				to = append(to, p)
			}
		}
		return to
	}
}

// reshareAdmit adds to the guard's checks of type, round and broadcast
// flag who may send a type and who may receive it, so that, say, an old
// member cannot fill a new member's slot with a new-committee message.
func reshareAdmit(role map[string]committee, self committee, selfID string) func(env Envelope) error {
	return func(env Envelope) error {
		r, ok := reshareRoles[env.Type]
		if !ok {
			return fmt.Errorf("%w: %q", ErrWrongType, env.Type)
		}
		if role[env.From]&r.from == 0 || self&r.to == 0 {
			return fmt.Errorf("%w: %s may not go from %s to %s", ErrWrongType, env.Type, env.From, selfID)
		}
		return nil
	}
}

// reshareFinished reports whether tss-lib has ended; a new member checks
// its new share (and the group key, when c names one) before it becomes
// the result.
func reshareFinished(s *Session, c ReshareConfig, self committee, end <-chan *keygen.LocalPartySaveData) func() bool {
	parties := append([]Party(nil), c.NewParties...)
	sortParties(parties)
	return func() bool {
		select {
		case data := <-end:
			if self != newC {
				return true
			}
			share := &KeyShare{KeyID: c.KeyID, Self: c.Self, Parties: parties, Threshold: c.NewThreshold, Data: *data}
			if err := share.validate(); err != nil {
				s.abort(fmt.Errorf("%w: new share: %v", ErrProtocol, err))
				return true
			}
			pub, _ := share.PublicKey()
			if c.PublicKey != nil && !bytes.Equal(pub.SerializeCompressed(), c.PublicKey) {
				s.abort(fmt.Errorf("%w: old committee reshared a different key %x", ErrProtocol, pub.SerializeCompressed()), oldPartyIDs(c.OldParties)...)
				return true
			}
			s.keyResult = share
			return true
		default:
			return false
		}
	}
}

// oldInput checks an old member's share and copies its secret: tss-lib
// zeroes the old Xi in place when it finishes, and the caller's share must
// stay usable until the new shares are confirmed.
func oldInput(c ReshareConfig) (keygen.LocalPartySaveData, error) {
	if c.Share == nil {
		return keygen.LocalPartySaveData{}, fmt.Errorf("%w: an old committee member needs its share", ErrConfig)
	}
	if c.Share.KeyID != c.KeyID || c.Share.Self != c.Self || c.Share.Threshold != c.OldThreshold {
		return keygen.LocalPartySaveData{}, fmt.Errorf("%w: share %s of %s does not match the resharing of %s by %s", ErrConfig,
			c.Share.KeyID, c.Share.Self.ID, c.KeyID, c.Self.ID)
	}
	for _, p := range c.OldParties {
		if !hasParty(c.Share.Parties, p) {
			return keygen.LocalPartySaveData{}, fmt.Errorf("%w: old committee member %s holds no share of %s", ErrConfig, p.ID, c.KeyID)
		}
	}
	if c.PublicKey != nil {
		pub, err := c.Share.PublicKey()
		if err != nil || !bytes.Equal(pub.SerializeCompressed(), c.PublicKey) {
			return keygen.LocalPartySaveData{}, fmt.Errorf("%w: this share is not of the expected public key", ErrConfig)
		}
	}
	key := c.Share.Data
	key.Xi = new(big.Int).Set(c.Share.Data.Xi)
	return key, nil
}

func hasParty(ps []Party, p Party) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func oldPartyIDs(ps []Party) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// ReshareResult returns, once a resharing session is done, the new share
// for a new committee member, or nil for an old-committee-only member.
func (s *Session) ReshareResult() (*KeyShare, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.protocol != Reshare {
		return nil, fmt.Errorf("%w: %s session has no resharing result", ErrConfig, s.protocol)
	}
	if err := s.result(); err != nil {
		return nil, err
	}
	return s.keyResult, nil
}

// PublicView is a digest of a share's public data: the key ID, group key,
// threshold, holders and every holder's public share point. Every holder of
// one key computes the same view; resharing members compare it before the
// old shares are destroyed.
func (k *KeyShare) PublicView() ([32]byte, error) {
	if err := k.validate(); err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	writeLP(h, []byte("triad/share-view/v1"))
	writeLP(h, []byte(k.KeyID))
	writeLP(h, []byte(fmt.Sprint(k.Threshold)))
	pub, _ := k.PublicKey()
	writeLP(h, pub.SerializeCompressed())
	for _, p := range k.Parties {
		writeLP(h, []byte(p.ID))
		writeLP(h, []byte(p.Node))
	}
	type point struct{ k, x, y []byte }
	pts := make([]point, len(k.Data.Ks))
	for i := range k.Data.Ks {
		if k.Data.Ks[i] == nil || k.Data.BigXj[i] == nil {
			return [32]byte{}, fmt.Errorf("tss: key share %s has an empty public share", k.KeyID)
		}
		pts[i] = point{k.Data.Ks[i].Bytes(), k.Data.BigXj[i].X().Bytes(), k.Data.BigXj[i].Y().Bytes()}
	}
	sort.Slice(pts, func(i, j int) bool { return bytes.Compare(pts[i].k, pts[j].k) < 0 })
	for _, p := range pts {
		writeLP(h, p.k)
		writeLP(h, p.x)
		writeLP(h, p.y)
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, nil
}
