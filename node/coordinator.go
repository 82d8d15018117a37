package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/triad-custody/triad/tss"
)

// ErrNoSigners: no pair of signers could complete the signature.
var ErrNoSigners = errors.New("node: no signer pair could sign")

// ErrShareMismatch: a signing partner holds another sharing of the key.
var ErrShareMismatch = errors.New("node: share views differ")

// shareView is the hex public view of a share ("" if it has none).
func shareView(s *tss.KeyShare) string {
	v, err := s.PublicView()
	if err != nil {
		return ""
	}
	return hex.EncodeToString(v[:])
}

// SignRequest asks the cluster for one signature.
type SignRequest struct {
	KeyID     string
	RequestID string
	Digest    [32]byte
	// ChildPath selects a BIP32 non-hardened child key ("m/0/7"); empty
	// for the group key itself.
	ChildPath string
	// Payload is the typed request each signer checks with its own policy.
	Payload []byte
	// Partner, when set, is tried first (drills that exercise one pair).
	Partner string
	// Only, with Partner, signs with Partner alone: no other pair is tried
	// and a slow partner keeps the whole sign_timeout (no cut-off after a
	// third of it for a fallback). For a quorum no other pair can meet (a
	// liquidation: custodian and exchange), where a fallback only declines.
	Only bool
}

// Attempt reports one signing attempt.
type Attempt struct {
	SessionID string   `json:"session_id"`
	Signers   []string `json:"signers"`
	Error     string   `json:"error,omitempty"`
	Culprits  []string `json:"culprits,omitempty"`
}

// SignResult is a signature and how it was made.
type SignResult struct {
	Signature *tss.Signature
	Signers   []string
	Attempts  []Attempt
}

// maxAttempts: the first pair, then once more with the other available pair.
const maxAttempts = 2

// Sign coordinates a signature with this node as one signer. It picks the
// partner deterministically (connected peers first, then by name), and if
// an attempt fails because the partner is unreachable, silent past the
// deadline, declined or misbehaved, retries once with the other partner
// and a fresh session ID.
//
// One sign_timeout bounds the whole call, not each attempt, so two paused
// partners cost the caller one timeout (../shared/SECURITY.md scenario 13). While another
// connected partner remains to fail over to, an attempt is given up once
// its partner has sent nothing for a third of what was left: a paused
// partner still leaves the other pair time to sign, and a live one, which
// answers every round, keeps the whole budget.
func (n *Node) Sign(parent context.Context, req SignRequest) (*SignResult, error) {
	end := time.Now().Add(n.opt.SignTimeout) // the wall clock: opt.Now may be a test's jumping clock
	ctx, cancel := context.WithDeadline(parent, end)
	defer cancel()
	share, err := n.opt.Keys.Load(ctx, req.KeyID)
	if err != nil {
		return nil, err
	}
	res := &SignResult{}
	excluded := map[string]bool{}
	for attempt := 0; attempt < maxAttempts && (attempt == 0 || !req.Only); attempt++ {
		partner, ok := n.choosePartner(share, excluded)
		if attempt == 0 && req.Partner != "" {
			if !contains(share.Holders(), req.Partner) || req.Partner == n.opt.Party {
				return nil, fmt.Errorf("node: %q cannot be this node's signing partner for %s", req.Partner, req.KeyID)
			}
			partner, ok = req.Partner, true
		}
		if !ok {
			break
		}
		signers := []string{n.opt.Party, partner}
		sort.Strings(signers)
		p := &Proposal{Protocol: tss.Sign, KeyID: req.KeyID, RequestID: req.RequestID, Attempt: attempt,
			Participants: signers, Threshold: share.Threshold, Digest: req.Digest[:], ChildPath: req.ChildPath, Payload: req.Payload,
			ShareView: shareView(share)}
		p.SessionID = p.sessionIDFor()
		budget, silence := time.Until(end), time.Duration(0)
		if budget <= 0 {
			break
		}
		if !req.Only && attempt < maxAttempts-1 && n.hasOtherPartner(share, excluded, partner) {
			silence = budget / 3
		}
		sig, err := n.attempt(ctx, p, partner, budget, silence)
		if errors.Is(err, ErrPolicyRefused) { // refused by this node's own policy before any partner heard of it: no failover
			return res, err
		}
		a := Attempt{SessionID: p.SessionID.String(), Signers: signers}
		if err == nil {
			res.Attempts = append(res.Attempts, a)
			res.Signature, res.Signers = sig, signers
			return res, nil
		}
		a.Error, a.Culprits = err.Error(), tss.Culprits(err)
		res.Attempts = append(res.Attempts, a)
		if parent.Err() != nil { // the caller gave up
			return res, err
		}
		excluded[partner] = true
		n.log.Warn("signing attempt failed; trying the other pair", "key", req.KeyID, "partner", partner, "err", err)
	}
	return res, fmt.Errorf("%w for key %s after %d attempt(s): %s", ErrNoSigners, req.KeyID, len(res.Attempts), summarize(res.Attempts))
}

func summarize(as []Attempt) string {
	s := ""
	for i, a := range as {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("%v: %s", a.Signers, a.Error)
	}
	if s == "" {
		s = "no partner available"
	}
	return s
}

// choosePartner returns the other holder to sign with: connected before
// unconnected, then one whose circuit breaker is closed before one whose
// breaker is open (incidents.go), then in name order.
func (n *Node) choosePartner(share *tss.KeyShare, excluded map[string]bool) (string, bool) {
	var cands []string
	open := map[string]bool{}
	for _, h := range share.Holders() {
		if h != n.opt.Party && !excluded[h] {
			cands = append(cands, h)
			open[h] = n.Breaker(h).Open
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		ci, cj := n.t.Connected(cands[i]), n.t.Connected(cands[j])
		if ci != cj {
			return ci
		}
		if oi, oj := open[cands[i]], open[cands[j]]; oi != oj {
			return oj
		}
		return cands[i] < cands[j]
	})
	if len(cands) == 0 {
		return "", false
	}
	return cands[0], true
}

// hasOtherPartner reports whether a connected holder besides this node,
// partner and the excluded ones remains to fail over to.
func (n *Node) hasOtherPartner(share *tss.KeyShare, excluded map[string]bool, partner string) bool {
	for _, h := range share.Holders() {
		if h != n.opt.Party && h != partner && !excluded[h] && n.t.Connected(h) {
			return true
		}
	}
	return false
}

// attempt runs one signing session with partner, bounded by budget and,
// when silence is set, by the partner's silence.
func (n *Node) attempt(ctx context.Context, p *Proposal, partner string, budget, silence time.Duration) (*tss.Signature, error) {
	s, err := n.signSession(p, budget)
	if err != nil {
		return nil, err
	}
	rt, err := n.r.open(p.SessionID)
	if err != nil {
		return nil, err
	}
	defer n.r.close(p.SessionID)
	sctx, cancel := context.WithDeadline(ctx, s.Deadline())
	defer cancel()
	if err := n.send(sctx, partner, frame{Kind: kindPropose, Proposal: p}); err != nil {
		err = s.Abort(fmt.Errorf("%w: proposing to %s: %v", tss.ErrUnreachable, partner, err), partner)
		n.recordAbort(s, p.KeyID, err)
		return nil, err
	}
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	if silence > 0 {
		rt = watchSilence(rctx, rcancel, s, rt, partner, silence)
	}
	if err := n.run(rctx, s, rt, p); err != nil {
		if !errors.Is(err, ErrDeclined) {
			n.withdraw(p, []string{partner}, err.Error())
		}
		return nil, err
	}
	return s.Signature()
}

// watchSilence forwards rt's inbox and aborts s, blaming partner, once
// nothing has come from it for silence.
func watchSilence(ctx context.Context, cancel context.CancelFunc, s *tss.Session, rt *route, partner string, silence time.Duration) *route {
	fwd := &route{inbox: make(chan tss.Inbound, cap(rt.inbox)), declines: rt.declines, saved: rt.saved}
	go func() {
		t := time.NewTimer(silence)
		defer t.Stop()
		for {
			select {
			case in := <-rt.inbox:
				t.Reset(silence)
				select {
				case fwd.inbox <- in:
				case <-ctx.Done():
					return
				}
			case <-t.C:
				s.Abort(fmt.Errorf("%w: %s sent nothing for %v", tss.ErrUnreachable, partner, silence.Round(time.Millisecond)), partner)
				cancel()
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return fwd
}

// signSession checks a signing proposal against this node's share and
// its own authorizer, and opens a session for it that ends within d.
func (n *Node) signSession(p *Proposal, d time.Duration) (*tss.Session, error) {
	ctx, cancel := context.WithTimeout(n.ctx, d)
	defer cancel()
	share, err := n.opt.Keys.Load(ctx, p.KeyID)
	if err != nil {
		return nil, err
	}
	for _, s := range p.Participants {
		if !contains(share.Holders(), s) {
			return nil, fmt.Errorf("node: %s holds no share of %s", s, p.KeyID)
		}
	}
	if p.Threshold != share.Threshold {
		return nil, fmt.Errorf("node: proposal threshold %d, key has %d", p.Threshold, share.Threshold)
	}
	if mine := shareView(share); p.ShareView != "" && p.ShareView != mine {
		return nil, fmt.Errorf("%w: the proposer holds %.16s…, this node %.16s… of %s: one of the two holds a stale share (a reshare undecided on one side, or a share restored from an old backup); compare with `triad drill unseal`, then `triad reshare resolve`",
			ErrShareMismatch, p.ShareView, mine, p.KeyID)
	}
	auth, err := n.authorizer()
	if err != nil {
		return nil, err
	}
	if err := auth.AuthorizeSign(ctx, p.KeyID, p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicyRefused, err)
	}
	var digest [32]byte
	copy(digest[:], p.Digest)
	_, delta, err := share.ChildKey(p.ChildPath) // no tweak for the group key itself
	if err != nil {
		return nil, fmt.Errorf("node: deriving %s: %w", p.ChildPath, err)
	}
	cfg := n.sessionConfig(p.SessionID, d)
	cfg.Self = share.Self // after a reshare the participant ID is "party#n"
	return tss.NewSignSession(tss.SignConfig{
		Config:  cfg,
		Share:   share,
		Signers: p.Participants,
		Digest:  digest,
		Delta:   delta,
	})
}

func (n *Node) sessionConfig(sid tss.SessionID, d time.Duration) tss.Config {
	return tss.Config{SessionID: sid, Self: tss.Party{ID: n.opt.Party, Node: n.opt.Party}, Deadline: n.opt.Now().Add(d), Now: n.opt.Now}
}
