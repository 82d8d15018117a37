package servicetest

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/node"
)

// Signer wraps a coordinator's signing network (Options.Network, via
// Wrap) for tests of liquidation batches: Fault is asked before each
// session of a batch input, and an error it returns fails that session
// before any partner hears of it (a fault that blocks until its context
// ends is a slow session). Signer counts the signatures made per digest.
//
//	sg := &servicetest.Signer{Fault: func(b servicetest.BatchSession) error {
//		if b.Input == 2 && b.Try == 0 {
//			return errors.New("injected")
//		}
//		return nil
//	}}
//	c := servicetest.New(t, servicetest.Options{Network: sg.Wrap(custody.Custodian)})
type Signer struct {
	Fault func(BatchSession) error

	mu    sync.Mutex
	tries map[string]int   // "batch/input" → sessions begun
	ids   map[string]int   // request ID → sessions asked for with it
	made  map[[32]byte]int // digest → signatures made
}

// BatchSession is one signing session of a batch input.
type BatchSession struct {
	Ctx     context.Context
	Batch   service.Batch
	BatchID string
	Input   int
	Try     int // sessions this input of this batch had before this one
}

// Wrap is an Options.Network hook wrapping party p's network (a restarted
// p is wrapped again, with the same counts); other parties are left alone.
func (g *Signer) Wrap(p custody.Party) func(custody.Party, service.Network) service.Network {
	return func(q custody.Party, n service.Network) service.Network {
		if q != p {
			return n
		}
		return &faultyNet{Network: n, g: g}
	}
}

// Reused is how many request IDs were asked for more than once (a node
// opens a session ID once: a second session under one ID is refused).
func (g *Signer) Reused() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.ids {
		if c > 1 {
			n++
		}
	}
	return n
}

// Made is how many signatures were made over each digest.
func (g *Signer) Made() map[[32]byte]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[[32]byte]int{}
	for d, n := range g.made {
		out[d] = n
	}
	return out
}

type faultyNet struct {
	service.Network
	g *Signer
}

func (f *faultyNet) Sign(ctx context.Context, req node.SignRequest) (*node.SignResult, error) {
	g := f.g
	if b, err := service.DecodeBatch(req.Payload); err == nil && g.Fault != nil {
		parts := strings.Split(req.RequestID, "/")
		input := -1
		if len(parts) == 3 {
			input, _ = strconv.Atoi(parts[1])
		}
		key := b.ID() + "/" + strconv.Itoa(input)
		g.mu.Lock()
		if g.tries == nil {
			g.tries, g.ids = map[string]int{}, map[string]int{}
		}
		g.ids[req.RequestID]++
		try := g.tries[key]
		g.tries[key]++
		g.mu.Unlock()
		if err := g.Fault(BatchSession{Ctx: ctx, Batch: b, BatchID: b.ID(), Input: input, Try: try}); err != nil {
			return nil, err
		}
	}
	out, err := f.Network.Sign(ctx, req)
	if err == nil {
		g.mu.Lock()
		if g.made == nil {
			g.made = map[[32]byte]int{}
		}
		g.made[req.Digest]++
		g.mu.Unlock()
	}
	return out, err
}

// versioned is what a node says of protocol versions (service speaks
// version 1 over a network without it).
type versioned interface {
	PeerProtocol(peer string) int
	ProtocolRange() (min, max int)
}

func (f *faultyNet) PeerProtocol(peer string) int {
	if v, ok := f.Network.(versioned); ok {
		return v.PeerProtocol(peer)
	}
	return 1
}

func (f *faultyNet) ProtocolRange() (min, max int) {
	if v, ok := f.Network.(versioned); ok {
		return v.ProtocolRange()
	}
	return 1, 1
}
