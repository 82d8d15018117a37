package tss

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Reliable broadcast, the caller's job under tss-lib: once its own tss-lib
// party has finished, every participant sends each echo peer the digests of
// all broadcasts it received and sent. A result is released only when every
// echo agrees with this participant's own view, so a sender that broadcast
// different content to different receivers is caught before anything is
// persisted or returned.

type echoEntry struct {
	From   string   `json:"from"`
	Type   string   `json:"type"`
	Digest [32]byte `json:"digest"`
}

func (s *Session) sendEcho() {
	entries := make([]echoEntry, 0, len(s.bcastSeen))
	for k, d := range s.bcastSeen {
		entries = append(entries, echoEntry{From: k.from, Type: k.typ, Digest: d})
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].From != entries[j].From {
			return entries[i].From < entries[j].From
		}
		return entries[i].Type < entries[j].Type
	})
	payload, _ := json.Marshal(entries) // plain structs: cannot fail
	for _, to := range s.echoPeers {
		s.outbox = append(s.outbox, Envelope{
			Session:  s.cfg.SessionID,
			Protocol: s.protocol,
			From:     s.cfg.Self.ID,
			To:       []string{to},
			Type:     EchoType,
			Payload:  payload,
		})
	}
}

func (s *Session) deliverEcho(env Envelope) error {
	if !s.isEchoPeer(env.From) || env.Broadcast || !addressedTo(env, s.cfg.Self.ID) {
		s.stats.WrongType++
		return fmt.Errorf("%w: unexpected echo from %s", ErrWrongType, env.From)
	}
	k := seenKey{env.From, EchoType}
	d := env.digest()
	if prev, ok := s.seen[k]; ok {
		if prev == d {
			s.stats.Duplicates++
			return ErrDuplicate
		}
		s.stats.Equivocations++
		return s.abort(fmt.Errorf("%w: %s sent two different echoes", ErrEquivocation, env.From), env.From)
	}
	var entries []echoEntry
	if len(env.Payload) > 64<<10 || strictUnmarshal(env.Payload, &entries) != nil || len(entries) > 256 {
		s.stats.Malformed++
		return s.abort(fmt.Errorf("%w: echo from %s", ErrMalformed, env.From), env.From)
	}
	s.seen[k] = d
	s.stats.Accepted++
	s.echoes[env.From] = entries
	if s.localDone {
		if err := s.checkEcho(env.From); err != nil {
			return err
		}
	}
	return s.checkDone()
}

func (s *Session) isEchoPeer(id string) bool {
	for _, p := range s.echoPeers {
		if p == id {
			return true
		}
	}
	return false
}

// checkEcho compares echoer's view with ours on every broadcast both have.
// Our own broadcasts misreported, or the echoer's own broadcast reported
// differently from what it sent us, blame the echoer; a third party's
// broadcast that differs blames that third party.
func (s *Session) checkEcho(echoer string) error {
	for _, e := range s.echoes[echoer] {
		mine, ok := s.bcastSeen[seenKey{e.From, e.Type}]
		if !ok || mine == e.Digest {
			continue
		}
		culprit := e.From
		if e.From == s.cfg.Self.ID {
			culprit = echoer
		}
		return s.abort(fmt.Errorf("%w: %s's %s as seen by %s differs from this party's view",
			ErrInconsistentBroadcast, e.From, e.Type, echoer), culprit)
	}
	return nil
}
