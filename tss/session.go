package tss

import (
	"fmt"
	"sync"
	"time"

	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// Config is what every session needs, whatever its protocol.
type Config struct {
	// SessionID binds the run; every envelope must carry it.
	SessionID SessionID
	// Self is the participant this session plays.
	Self Party
	// Deadline is the session's one deadline: envelopes delivered after it
	// are refused and Run aborts at it.
	Deadline time.Time
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (c *Config) validate() error {
	if c.SessionID.IsZero() {
		return fmt.Errorf("%w: session id is zero", ErrConfig)
	}
	if c.Self.ID == "" || c.Self.Node == "" {
		return fmt.Errorf("%w: self party is unset", ErrConfig)
	}
	if c.Deadline.IsZero() {
		return fmt.Errorf("%w: deadline is unset", ErrConfig)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Stats counts what the guard did with delivered envelopes.
type Stats struct {
	Accepted, Duplicates, WrongSession, Spoofed, NotParticipant, WrongType,
	Malformed, Late, Equivocations int
}

type seenKey struct{ from, typ string }

// Session runs one tss-lib party for one protocol run. It is safe for use
// by several goroutines, though one driver (Run) is the normal caller.
type Session struct {
	mu        sync.Mutex
	cfg       Config
	protocol  Protocol
	threshold int
	parties   map[string]Party // every participant by ID, self included
	tssIDs    map[string]*tsslib.PartyID
	byTSSID   map[string]string // tss-lib PartyID.Id → participant ID
	party     tsslib.Party
	out       chan tsslib.Message
	// recipients maps an outgoing tss-lib routing to participant IDs.
	recipients func(*tsslib.MessageRouting) []string
	// finished polls tss-lib's end channel and keeps the result.
	finished func() bool
	// echoPeers are the participants that exchange broadcast echoes.
	echoPeers []string
	// admit, when set, is a protocol's own check of sender and recipient
	// roles after the generic guard (resharing: which committee may send
	// and receive each message type). nil admits every envelope.
	admit func(env Envelope) error
	// pub holds the participants' public Paillier and Ñ parameters the
	// field checks use (fields.go): signing knows every signer's from the
	// key share, keygen and resharing only their own.
	pub map[string]*pubParams

	outbox    []Envelope
	seen      map[seenKey][32]byte
	bcastSeen map[seenKey][32]byte // broadcasts received and sent
	echoes    map[string][]echoEntry
	started   bool
	localDone bool
	done      bool
	err       *Error
	stats     Stats

	keyResult *KeyShare
	sigResult *Signature
}

func newSession(cfg Config, p Protocol, threshold int, parties []Party) (*Session, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Session{
		cfg:       cfg,
		protocol:  p,
		threshold: threshold,
		parties:   map[string]Party{},
		tssIDs:    map[string]*tsslib.PartyID{},
		byTSSID:   map[string]string{},
		out:       make(chan tsslib.Message, 4*len(parties)+8),
		seen:      map[seenKey][32]byte{},
		bcastSeen: map[seenKey][32]byte{},
		echoes:    map[string][]echoEntry{},
		pub:       map[string]*pubParams{},
	}
	for _, q := range parties {
		if _, dup := s.parties[q.ID]; dup || q.ID == "" || q.Node == "" {
			return nil, fmt.Errorf("%w: participant %q missing or repeated", ErrConfig, q.ID)
		}
		s.parties[q.ID] = q
	}
	if _, ok := s.parties[cfg.Self.ID]; !ok {
		return nil, fmt.Errorf("%w: self %q is not a participant", ErrConfig, cfg.Self.ID)
	}
	return s, nil
}

// sortedTSSIDs builds tss-lib party IDs for ps (sorted by key, with
// indices) and registers them with the session.
func (s *Session) sortedTSSIDs(ps []Party) tsslib.SortedPartyIDs {
	var un tsslib.UnSortedPartyIDs
	for _, q := range ps {
		id, ok := s.tssIDs[q.ID]
		if !ok {
			id = tsslib.NewPartyID(q.ID, q.ID, q.Key())
			s.tssIDs[q.ID] = id
			s.byTSSID[q.ID] = q.ID
		}
		un = append(un, id)
	}
	return tsslib.SortPartyIDs(un)
}

// ID returns the session ID.
func (s *Session) ID() SessionID { return s.cfg.SessionID }

// Protocol returns the protocol this session runs.
func (s *Session) Protocol() Protocol { return s.protocol }

// Deadline returns the session's deadline.
func (s *Session) Deadline() time.Time { return s.cfg.Deadline }

// Participants returns every participant, self included.
func (s *Session) Participants() []Party {
	ps := make([]Party, 0, len(s.parties))
	for _, p := range s.parties {
		ps = append(ps, p)
	}
	sortParties(ps)
	return ps
}

// NodeOf returns the node that runs participant id.
func (s *Session) NodeOf(id string) (string, bool) {
	p, ok := s.parties[id]
	return p.Node, ok
}

// Start runs tss-lib's first round. Its messages are in Outbox.
func (s *Session) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("%w: session already started", ErrConfig)
	}
	s.started = true
	var terr *tsslib.Error
	if perr := protect(func() { terr = s.party.Start() }); perr != nil {
		return s.abort(fmt.Errorf("%w: start: %v", ErrProtocol, perr))
	}
	if terr != nil {
		return s.abort(fmt.Errorf("%w: start: %v", ErrProtocol, terr.Cause()), s.culprits(terr)...)
	}
	return s.collect()
}

// Deliver checks env, which the transport authenticated as coming from
// node fromNode, and hands it to tss-lib. A nil error means accepted; a
// rejection leaves the session running (see Aborts); an abort ends it.
func (s *Session) Deliver(fromNode string, env Envelope) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if !s.started {
		return fmt.Errorf("%w: deliver before start", ErrConfig)
	}
	if err := s.guard(fromNode, env); err != nil {
		return err
	}
	if env.Type == EchoType {
		return s.deliverEcho(env)
	}
	msg, err := s.parse(env)
	if err != nil {
		// The guard authenticated the sender: it is faulty, not unlucky.
		s.stats.Malformed++
		return s.abort(err, env.From)
	}
	k := seenKey{env.From, env.Type}
	d := env.digest()
	if prev, ok := s.seen[k]; ok {
		if prev == d {
			s.stats.Duplicates++
			return ErrDuplicate
		}
		s.stats.Equivocations++
		return s.abort(fmt.Errorf("%w: %s sent two different %s", ErrEquivocation, env.From, env.Type), env.From)
	}
	s.seen[k] = d
	if env.Broadcast {
		s.bcastSeen[k] = d
	}
	s.stats.Accepted++
	var ok bool
	var terr *tsslib.Error
	if perr := protect(func() { ok, terr = s.party.Update(msg) }); perr != nil {
		return s.abort(fmt.Errorf("%w: processing %s from %s: %v", ErrProtocol, env.Type, env.From, perr), env.From)
	}
	if terr != nil {
		return s.abort(fmt.Errorf("%w: %v", ErrProtocol, terr.Cause()), s.culprits(terr)...)
	}
	if !ok {
		return fmt.Errorf("%w: tss-lib did not take %s", ErrWrongType, env.Type)
	}
	return s.collect()
}

// collect moves tss-lib's output into the outbox and notices completion.
func (s *Session) collect() error {
	for {
		select {
		case m := <-s.out:
			if err := s.enqueue(m); err != nil {
				return s.abort(err)
			}
			continue
		default:
		}
		break
	}
	if !s.localDone && s.finished() {
		s.localDone = true
		if len(s.echoPeers) > 0 {
			s.sendEcho()
			for from := range s.echoes {
				if err := s.checkEcho(from); err != nil {
					return err
				}
			}
		}
	}
	return s.checkDone()
}

func (s *Session) enqueue(m tsslib.Message) error {
	payload, routing, err := m.WireBytes()
	if err != nil {
		return fmt.Errorf("%w: encoding own %s: %v", ErrProtocol, m.Type(), err)
	}
	spec, ok := catalog[s.protocol][m.Type()]
	if !ok {
		return fmt.Errorf("%w: tss-lib produced unknown %s", ErrProtocol, m.Type())
	}
	env := Envelope{
		Session:   s.cfg.SessionID,
		Protocol:  s.protocol,
		From:      s.cfg.Self.ID,
		To:        s.recipients(routing),
		Broadcast: routing.IsBroadcast,
		Round:     spec.round,
		Type:      m.Type(),
		Payload:   payload,
	}
	if env.Broadcast {
		s.bcastSeen[seenKey{env.From, env.Type}] = env.digest()
	}
	s.outbox = append(s.outbox, env)
	return nil
}

// othersThan lists every participant but self; the default recipients.
func (s *Session) othersThan(ids []*tsslib.PartyID) []string {
	var to []string
	for _, id := range ids {
		if p := s.byTSSID[id.Id]; p != s.cfg.Self.ID {
			to = append(to, p)
		}
	}
	return to
}

func (s *Session) checkDone() error {
	if s.done || !s.localDone {
		return nil
	}
	if len(s.echoes) < len(s.echoPeers) {
		return nil
	}
	s.done = true
	return nil
}

// Outbox returns and clears the envelopes waiting to be sent.
func (s *Session) Outbox() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.outbox
	s.outbox = nil
	return out
}

// Done reports whether the session finished, with a result or an error.
func (s *Session) Done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done || s.err != nil
}

// Err returns the error that ended the session, if any.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		return nil
	}
	return s.err
}

// Stats returns the guard's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Timeout aborts the session because its deadline passed, blaming the
// participants it was still waiting for.
func (s *Session) Timeout() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.done {
		return nil
	}
	return s.abort(ErrTimeout, s.waitingFor()...)
}

// Abort ends the session with err (for example a transport failure),
// blaming culprits.
func (s *Session) Abort(err error, culprits ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.done { // a plain nil: s.err is a *Error, and a typed nil is no nil error
		return nil
	}
	return s.abort(err, culprits...)
}

// WaitingFor lists the participants whose messages the session still needs.
func (s *Session) WaitingFor() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waitingFor()
}

func (s *Session) waitingFor() []string {
	if s.localDone {
		var w []string
		for _, p := range s.echoPeers {
			if _, ok := s.echoes[p]; !ok {
				w = append(w, p)
			}
		}
		return w
	}
	var w []string
	if s.party != nil {
		for _, id := range s.party.WaitingFor() {
			w = append(w, s.byTSSID[id.Id])
		}
	}
	return w
}

func (s *Session) abort(err error, culprits ...string) *Error {
	if s.err == nil {
		s.err = newError(s.cfg.SessionID, err, culprits...)
	}
	return s.err
}

func (s *Session) culprits(e *tsslib.Error) []string {
	var cs []string
	for _, c := range e.Culprits() {
		if c != nil {
			cs = append(cs, s.byTSSID[c.Id])
		}
	}
	return cs
}

// protect turns a panic inside tss-lib into an error: input from the
// network must never crash the node.
func protect(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tss-lib panicked: %v", r)
		}
	}()
	f()
	return nil
}

// result returns the session's outcome once it is done.
func (s *Session) result() error {
	if s.err != nil {
		return s.err
	}
	if !s.done {
		return ErrNotDone
	}
	return nil
}
