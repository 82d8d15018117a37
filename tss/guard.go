package tss

import (
	"fmt"

	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// The guard: every check an envelope passes before tss-lib sees it.

// guard makes the checks that need no decoding. It counts what it refuses.
func (s *Session) guard(fromNode string, env Envelope) error {
	if env.Session != s.cfg.SessionID {
		s.stats.WrongSession++
		return ErrWrongSession
	}
	if s.cfg.Now().After(s.cfg.Deadline) {
		s.stats.Late++
		return ErrLate
	}
	sender, ok := s.parties[env.From]
	if !ok || env.From == s.cfg.Self.ID {
		s.stats.NotParticipant++
		return fmt.Errorf("%w: %q", ErrNotParticipant, env.From)
	}
	if sender.Node != fromNode {
		s.stats.Spoofed++
		return fmt.Errorf("%w: envelope claims %q, connection is %q", ErrSpoofedSender, env.From, fromNode)
	}
	if env.Protocol != s.protocol {
		s.stats.WrongType++
		return fmt.Errorf("%w: protocol %q in a %s session", ErrWrongType, env.Protocol, s.protocol)
	}
	if env.Type == EchoType {
		return nil
	}
	spec, ok := catalog[s.protocol][env.Type]
	if !ok {
		s.stats.WrongType++
		return fmt.Errorf("%w: %q", ErrWrongType, env.Type)
	}
	if spec.round != env.Round {
		s.stats.WrongType++
		return fmt.Errorf("%w: %s is round %d, envelope says %d", ErrWrongRound, env.Type, spec.round, env.Round)
	}
	if spec.broadcast != env.Broadcast {
		s.stats.WrongType++
		return fmt.Errorf("%w: %s broadcast=%v", ErrWrongBroadcast, env.Type, env.Broadcast)
	}
	if !addressedTo(env, s.cfg.Self.ID) {
		s.stats.WrongType++
		return ErrNotForMe
	}
	if s.admit != nil {
		if err := s.admit(env); err != nil {
			s.stats.WrongType++
			return err
		}
	}
	return nil
}

func addressedTo(env Envelope, self string) bool {
	if !env.Broadcast {
		return len(env.To) == 1 && env.To[0] == self
	}
	for _, to := range env.To {
		if to == self {
			return true
		}
	}
	return false
}

// parse decodes the tss-lib payload and checks it structurally.
func (s *Session) parse(env Envelope) (tsslib.ParsedMessage, error) {
	if len(env.Payload) == 0 || len(env.Payload) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: payload of %d bytes", ErrMalformed, len(env.Payload))
	}
	var msg tsslib.ParsedMessage
	var err error
	if perr := protect(func() { msg, err = tsslib.ParseWireMessage(env.Payload, s.tssIDs[env.From], env.Broadcast) }); perr != nil {
		err = fmt.Errorf("%v", perr)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s from %s: %v", ErrMalformed, env.Type, env.From, err)
	}
	if msg.Type() != env.Type {
		return nil, fmt.Errorf("%w: payload is %s, envelope says %s", ErrMalformed, msg.Type(), env.Type)
	}
	if err := s.validate(env.From, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// validate checks a decoded message from a sender before tss-lib sees it:
// a bound on every field, tss-lib's ValidateBasic, and the field checks of
// fields.go against the sender's and this participant's parameters. It
// reads the message and the session's parameters only, so it is fuzzed
// in-process at millions of executions (fuzz_checks_test.go).
func (s *Session) validate(from string, msg tsslib.ParsedMessage) error {
	typ := msg.Type()
	if err := checkBounds(msg.Content().ProtoReflect()); err != nil {
		return err
	}
	if !msg.ValidateBasic() {
		return fmt.Errorf("%w: %s from %s failed basic validation", ErrMalformed, typ, from)
	}
	if check := catalog[s.protocol][typ].check; check != nil {
		f := &fieldCtx{threshold: s.threshold, from: s.pub[from], self: s.pub[s.cfg.Self.ID]}
		if err := check(msg.Content(), f); err != nil {
			return fmt.Errorf("%s from %s: %w", typ, from, err)
		}
	}
	return nil
}
