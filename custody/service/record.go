package service

import (
	"fmt"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
)

// Audit record kinds of events outside the request flow: recovery drills
// and reshares. They are this node's own records (each node records what
// it took part in), so reconciliation does not compare them.
const (
	KindDrill   = "drill"   // subject: drill/<kind>/<id>; payload: the report's digest (recovery.Report.Digest)
	KindReshare = "reshare" // subject: reshare/<id>; payload: the JSON of one reshare.Event
)

// EventRecorded is the event-stream type of a Record.
const EventRecorded = "recorded"

// recordKinds are the kinds Record accepts: never a request-flow kind,
// which only the service itself may write.
var recordKinds = map[string]bool{KindDrill: true, KindReshare: true}

// Record appends a non-request event to this node's audit chain: kind is
// KindDrill or KindReshare, subject names the drill or reshare, and the
// record carries the SHA-256 of payload (the payload itself is not
// stored). It fails when the record could not be appended, so a caller
// can refuse to vouch for an event its chain does not hold. Payloads
// must never hold key material.
func (s *Service) Record(kind, subject string, payload []byte) error {
	if !recordKinds[kind] {
		return fmt.Errorf("recording %q: %w: not a recordable kind", kind, custody.ErrMalformed)
	}
	if subject == "" || len(subject) > 128 {
		return fmt.Errorf("recording %s: %w: subject must be 1..128 bytes", kind, custody.ErrMalformed)
	}
	_, err := s.st.Audit().Append(audit.Entry{Time: s.clock.Now(), Kind: kind, RequestID: subject, Party: string(s.party), Payload: audit.Digest(payload)})
	if err != nil {
		s.log.Error("appending audit record", "kind", kind, "subject", subject, "err", err)
		return fmt.Errorf("recording %s %s on the audit chain: %w", kind, subject, err)
	}
	s.emit(Event{Type: EventRecorded, Party: s.party, Detail: kind + " " + subject})
	return nil
}
