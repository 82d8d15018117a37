package reshare

import (
	"sync"
	"time"

	"github.com/triad-custody/triad/tss"
)

// Options enable resharing on a node.
type Options struct {
	// Operators gives the ed25519 key of party's operator name, who may
	// approve a reshare or a custody keygen (the node's policy's operators
	// list: custody.Policy.OperatorPublicKey); false, or nil, for none.
	Operators Operators
	// Pin points party at a new libp2p peer ID: live when persist is
	// false (before the reshare runs), and durably at commit. nil on an
	// in-memory network.
	Pin func(party, peerID string, persist bool) error
	// Observer hears every reshare step on this node (progress, audit).
	Observer func(Event)
	// Timeout is one reshare's deadline, commit included; the node's
	// keygen timeout when zero (node.Node.EnableRecovery fills it in).
	Timeout time.Duration
	// NonceFile keeps the used approval nonces across restarts
	// (nonces.go); "" keeps them in memory only (tests).
	NonceFile string
}

// Engine is one node's resharing: disabled (every reshare refused with
// ErrRecoveryOff) until Enable.
type Engine struct {
	n  Node
	mu sync.Mutex
	st *state // nil until Enable
}

// state is an enabled engine's options, used nonces and open commit
// exchanges.
type state struct {
	opt      Options
	mu       sync.Mutex
	nonces   map[string]time.Time // party/nonce → approval expiry
	nonceErr error                // the nonce file could not be read: refuse reshares
	commits  map[tss.SessionID]*exchange
}

// New returns n's resharing, disabled.
func New(n Node) *Engine { return &Engine{n: n} }

// Enable turns on resharing. Until it is called the node declines reshare
// proposals.
func (e *Engine) Enable(o Options) {
	st := &state{opt: o, commits: map[tss.SessionID]*exchange{}}
	st.nonces, st.nonceErr = loadNonces(o.NonceFile)
	if st.nonceErr != nil {
		e.n.Logger().Error("reshare approvals refused until the nonce file is repaired", "err", st.nonceErr)
	}
	e.mu.Lock()
	e.st = st
	e.mu.Unlock()
	e.n.HandleApp(TopicConfirm, func(from string, b []byte) { st.onConfirm(e.n, from, b) })
	e.n.HandleApp(TopicEcho, func(from string, b []byte) { st.onEcho(e.n, from, b) })
}

// Operators returns the operator keys approvals are checked with, and
// false while resharing is not enabled.
func (e *Engine) Operators() (Operators, bool) {
	st := e.state()
	if st == nil {
		return nil, false
	}
	return st.opt.Operators, true
}

// state returns the engine's state, nil until Enable.
func (e *Engine) state() *state {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st
}

// event reports one step on this node: logged, and to the observer.
func (e *Engine) event(id, step, detail string) Event {
	ev := Event{Time: e.n.Now(), ReshareID: id, Party: e.n.Party(), Step: step, Detail: detail}
	e.n.Logger().Info("reshare", "reshare", id, "step", step, "detail", detail)
	if st := e.state(); st != nil && st.opt.Observer != nil {
		st.opt.Observer(ev)
	}
	return ev
}
