package node

import (
	"context"
	"log/slog"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/triad-custody/triad/node/keystore"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/tss"
)

// reshareHost is what package node/reshare needs of a node (reshare.Node).
type reshareHost struct{ n *Node }

var _ reshare.Node = reshareHost{}

func (h reshareHost) Party() string                { return h.n.opt.Party }
func (h reshareHost) Parties() []string            { return h.n.opt.Parties }
func (h reshareHost) Peers() []string              { return h.n.Peers() }
func (h reshareHost) Now() time.Time               { return h.n.opt.Now() }
func (h reshareHost) Context() context.Context     { return h.n.ctx }
func (h reshareHost) Logger() *slog.Logger         { return h.n.log }
func (h reshareHost) Count(name string)            { h.n.counts.add(name) }
func (h reshareHost) Keys() *keystore.Store        { return h.n.opt.Keys }
func (h reshareHost) CloseRoute(sid tss.SessionID) { h.n.r.close(sid) }
func (h reshareHost) Declined(r reshare.Reply) error {
	return declinedErr(r)
}

func (h reshareHost) PreParams(ctx context.Context) (*keygen.LocalPreParams, error) {
	return h.n.opt.Pool.Take(ctx)
}

func (h reshareHost) HandleApp(topic string, f func(from string, payload []byte)) {
	h.n.HandleApp(topic, f)
}

func (h reshareHost) SendApp(ctx context.Context, to, topic string, payload []byte) error {
	return h.n.SendApp(ctx, to, topic, payload)
}

// NewProposal builds a reshare proposal of every party, its session ID
// derived as every proposal's.
func (h reshareHost) NewProposal(keyID, requestID string, threshold int, payload []byte) reshare.Proposal {
	p := &Proposal{Protocol: tss.Reshare, KeyID: keyID, RequestID: requestID,
		Participants: h.n.opt.Parties, Threshold: threshold, Payload: payload}
	p.SessionID = p.sessionIDFor()
	return reshareProposal(p)
}

func (h reshareHost) Propose(ctx context.Context, to string, rp reshare.Proposal) error {
	p := &Proposal{Protocol: tss.Reshare, SessionID: rp.SessionID, KeyID: rp.KeyID, RequestID: rp.RequestID,
		Participants: rp.Participants, Threshold: rp.Threshold, Payload: rp.Payload}
	return h.n.send(ctx, to, frame{Kind: kindPropose, Proposal: p})
}

func (h reshareHost) SendEnvelope(ctx context.Context, to string, env tss.Envelope) error {
	return h.n.send(ctx, to, frame{Kind: kindEnvelope, Envelope: &env})
}

func (h reshareHost) ReportSaved(ctx context.Context, to string, sid tss.SessionID, failure string) error {
	return h.n.send(ctx, to, frame{Kind: kindSaved, Saved: &Saved{SessionID: sid, Error: failure}})
}

func (h reshareHost) OpenRoute(sid tss.SessionID) (reshare.Route, error) {
	rt, err := h.n.r.open(sid)
	if err != nil {
		return reshare.Route{}, err
	}
	return reshare.Route{Inbox: rt.inbox, Declines: rt.declines, Saved: rt.saved}, nil
}

func (h reshareHost) RunSession(ctx context.Context, s *tss.Session, c tss.Conn) error {
	return tss.Run(ctx, s, c, h.n.rejected(s))
}

func (h reshareHost) RecordAbort(s *tss.Session, keyID string, err error) {
	h.n.recordAbort(s, keyID, err)
}

// reshareProposal is the part of p a reshare reads.
func reshareProposal(p *Proposal) reshare.Proposal {
	return reshare.Proposal{SessionID: p.SessionID, KeyID: p.KeyID, RequestID: p.RequestID,
		Participants: p.Participants, Threshold: p.Threshold, Payload: p.Payload}
}
