package tss

import (
	"context"
	"errors"
	"fmt"
)

// Inbound is an envelope together with the node the transport
// authenticated as its sender.
type Inbound struct {
	From string
	Env  Envelope
}

// Conn is what a session needs of a transport. It carries no network
// types: node/ adapts libp2p to it, tests adapt channels.
type Conn interface {
	// Send delivers env to the node that runs participant to. An error
	// means that node cannot be reached now.
	Send(ctx context.Context, toNode string, env Envelope) error
	// Inbox yields envelopes for this session.
	Inbox() <-chan Inbound
}

// Observer hears about rejected envelopes; nil is allowed.
type Observer func(in Inbound, err error)

// Run drives s until it is done, its context ends, or its deadline passes:
// one deadline for the whole session, never one per message. It returns
// the session's error; results are read from s.
func Run(ctx context.Context, s *Session, c Conn, obs Observer) error {
	ctx, cancel := context.WithDeadline(ctx, s.Deadline())
	defer cancel()
	if err := s.Start(); err != nil {
		return err
	}
	for {
		if err := flush(ctx, s, c); err != nil {
			return err
		}
		if s.Done() {
			return s.Err()
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return s.Timeout()
			}
			return s.Abort(fmt.Errorf("%w: %v", ErrAborted, ctx.Err()))
		case in, ok := <-c.Inbox():
			if !ok {
				return s.Abort(fmt.Errorf("%w: transport closed", ErrAborted))
			}
			if err := s.Deliver(in.From, in.Env); err != nil {
				if Aborts(err) {
					flush(ctx, s, c) // best effort; the error is what counts
					return err
				}
				if obs != nil {
					obs(in, err)
				}
			}
		}
	}
}

func flush(ctx context.Context, s *Session, c Conn) error {
	for _, env := range s.Outbox() {
		for _, to := range env.To {
			node, ok := s.NodeOf(to)
			if !ok {
				return s.Abort(fmt.Errorf("%w: no node for participant %q", ErrProtocol, to))
			}
			if err := c.Send(ctx, node, env); err != nil {
				return s.Abort(fmt.Errorf("%w: sending %s to %s: %v", ErrUnreachable, env.Type, node, err), to)
			}
		}
	}
	return nil
}
