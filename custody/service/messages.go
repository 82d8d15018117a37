package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/node"
)

// Topic is the app topic of custody messages between nodes.
const Topic = "custody/v1"

// Message types.
const (
	msgPropose   = "propose"    // a request this party's node accepted
	msgEndorse   = "endorse"    // a signed approval or veto, or the sender's automatic approval
	msgStatus    = "status"     // the sender's status, decision and (once signed) the signature
	msgQuery     = "query"      // ask for the receiver's status of a request
	msgHead      = "head"       // the sender's audit head, and ours as the sender last saw it
	msgAuditReq  = "audit_req"  // ask for audit records from a seq
	msgAuditResp = "audit_resp" // records answering an audit_req
)

const (
	maxOrphanRequests = 256
	maxOrphansEach    = 16
	auditPage         = 500
)

// message is every custody message between nodes. The sender is the
// transport's authenticated party, never a field in here.
//
// V is the message's protocol version, the node's peer protocol version
// (node/versions.go) with the receiver: absent in version 1 (decoded as
// 1), 2 from version 2 on. A field new to custody messages comes under a
// new version, and is left out of messages to a peer of an older one.
type message struct {
	Type      string            `json:"type"`
	V         int               `json:"v,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
	Request   json.RawMessage   `json:"request,omitempty"` // canonical encoding
	Approval  *custody.Approval `json:"approval,omitempty"`
	Auto      bool              `json:"auto,omitempty"`
	Status    *PeerStatus       `json:"status,omitempty"`
	Result    *Result           `json:"result,omitempty"`
	Head      *audit.Head       `json:"head,omitempty"`
	Pinned    *audit.Head       `json:"pinned,omitempty"`
	Nonce     string            `json:"nonce,omitempty"`
	From      uint64            `json:"from,omitempty"`
	Records   []audit.Record    `json:"records,omitempty"`
}

// PeerStatus is a node's own view of a request, as it reports it.
type PeerStatus struct {
	Status   custody.Status    `json:"status"`
	Reason   string            `json:"reason,omitempty"`
	Decision *custody.Decision `json:"decision,omitempty"`
	Observer bool              `json:"observer,omitempty"`
	At       time.Time         `json:"at"` // the reporting node's clock
	// Holds names the endorsements the reporter has recorded, as
	// "party:stance" (sorted), so a peer can offer the ones it missed.
	Holds []string `json:"holds,omitempty"`
	// wait is what this node makes of the newest report (by the peer's
	// At) that said "too early": reports can arrive out of order.
	wait peerWait
}

// peerWait is a peer's "too early" report: its time (At) and the time it
// gave (RetryAt, on its clock; zero: no such refusal).
type peerWait struct {
	at, retryAt time.Time
}

func decodeMessage(b []byte) (message, error) {
	var m message
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return message{}, fmt.Errorf("decoding custody message: %w", err)
	}
	if dec.More() {
		return message{}, fmt.Errorf("decoding custody message: trailing data")
	}
	switch {
	case m.V == 0:
		m.V = 1
	case m.V < 2:
		return message{}, fmt.Errorf("decoding custody message: version %d (version 1 is written without one)", m.V)
	}
	if len(m.RequestID) > 64 || len(m.Nonce) > 64 || len(m.Records) > auditPage || m.Status != nil && len(m.Status.Holds) > 2*len(custody.Parties) {
		return message{}, fmt.Errorf("decoding custody message: field out of bounds")
	}
	return m, nil
}

// send delivers m to one peer, in the background with its own deadline,
// through the peer's outbox.
func (s *Service) send(to string, m message) {
	n, _ := s.network()
	if n == nil {
		return
	}
	m.V = 0 // version 1: no field
	if v := s.peerVersion(n, to); v >= 2 {
		m.V = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		s.log.Error("encoding custody message", "type", m.Type, "err", err)
		return
	}
	queued := s.post(to, func(ctx context.Context) { // outbox.go: a bounded number at once per peer
		if err := n.SendApp(ctx, to, Topic, b); err != nil {
			s.m.peerMsgs.WithLabelValues(m.Type, "send_failed").Inc()
			s.log.Warn("sending custody message", "peer", to, "type", m.Type, "request", short(m.RequestID), "err", err)
		}
	}, func() { s.m.peerMsgs.WithLabelValues(m.Type, "send_expired").Inc() })
	if !queued {
		s.m.peerMsgs.WithLabelValues(m.Type, "dropped_outbox_full").Inc()
	}
}

// broadcast sends m to both peers.
func (s *Service) broadcast(m message) {
	n, _ := s.network()
	if n == nil {
		return
	}
	for _, p := range n.Peers() {
		s.send(p, m)
	}
}

// receive is the app handler: it runs on the transport's goroutine, so it
// only decodes and queues.
func (s *Service) receive(from string, payload []byte) {
	m, err := decodeMessage(payload)
	if err != nil {
		s.m.peerMsgs.WithLabelValues("malformed", "refused").Inc()
		s.log.Warn("dropped custody message", "peer", from, "err", err)
		return
	}
	if err := s.checkVersion(m.V); err != nil {
		s.m.peerMsgs.WithLabelValues(m.Type, "version_refused").Inc()
		s.log.Error("refused custody message", "peer", from, "err", err)
		return
	}
	if m.Type == msgAuditResp { // answers a call: deliver directly
		s.answer(from, m)
		return
	}
	key, at := "", time.Time{} // a peer's newer status report without a signature supersedes its waiting one
	if m.Type == msgStatus && m.Status != nil && m.Result == nil && m.RequestID != "" {
		key, at = "status|"+from+"|"+m.RequestID, m.Status.At
	}
	queued, superseded := s.work.pushKeyed(key, at, func() { s.handle(from, m) })
	switch {
	case !queued:
		// Counted by type: which messages a storm overruns the queue with.
		s.m.peerMsgs.WithLabelValues(m.Type, "dropped_queue_full").Inc()
	case superseded:
		s.m.peerMsgs.WithLabelValues(m.Type, "superseded").Inc()
	}
}

func (s *Service) handle(from string, m message) {
	fromParty := custody.Party(from)
	if !fromParty.Valid() || fromParty == s.party {
		s.m.peerMsgs.WithLabelValues(m.Type, "refused").Inc()
		return
	}
	var err error
	switch m.Type {
	case msgPropose:
		err = s.onPropose(fromParty, m)
	case msgEndorse:
		err = s.onEndorse(fromParty, m)
	case msgStatus:
		err = s.onStatus(fromParty, m)
	case msgQuery:
		s.onQuery(from, m)
	case msgHead:
		s.onHead(from, m)
	case msgAuditReq:
		s.onAuditReq(from, m)
	default:
		err = fmt.Errorf("unknown message type %q", m.Type)
	}
	result := "ok"
	if err != nil {
		result = "refused"
		s.log.Warn("refused custody message", "peer", from, "type", m.Type, "request", short(m.RequestID), "err", err)
	}
	s.m.peerMsgs.WithLabelValues(m.Type, result).Inc()
}

// park keeps a message about a request this node has not stored yet; it
// is handled again when the request's proposal arrives (the network does
// not keep order).
func (s *Service) park(id, from string, m message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.orphans[id]; !ok && len(s.orphans) >= maxOrphanRequests {
		return
	}
	if len(s.orphans[id]) < maxOrphansEach {
		s.orphans[id] = append(s.orphans[id], orphan{from: from, msg: m})
	}
}

func (s *Service) unpark(id string) {
	s.mu.Lock()
	list := s.orphans[id]
	delete(s.orphans, id)
	s.mu.Unlock()
	for _, o := range list {
		s.handle(o.from, o.msg)
	}
}

// versioned is the part of a Network that speaks protocol versions;
// *node.Node implements it. A Network without it speaks version 1.
type versioned interface {
	PeerProtocol(peer string) int
	ProtocolRange() (min, max int)
}

var _ versioned = (*node.Node)(nil)

// peerVersion is the version of custody messages to peer: the node's
// protocol version with it.
func (s *Service) peerVersion(n Network, peer string) int {
	if v, ok := n.(versioned); ok {
		return v.PeerProtocol(peer)
	}
	return 1
}

// checkVersion refuses a message of a version outside this node's range,
// naming both.
func (s *Service) checkVersion(v int) error {
	lo, hi := 1, 1
	n, _ := s.network()
	if vn, ok := n.(versioned); ok {
		lo, hi = vn.ProtocolRange()
	}
	if v < lo || v > hi {
		return fmt.Errorf("%w: custody message of protocol version %d, this node speaks %d..%d", node.ErrProtocolVersion, v, lo, hi)
	}
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
