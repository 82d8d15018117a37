package drill

import (
	"context"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/tss"
)

// memRequest is a custody request as the twin models it: every running
// node sees it at once; approvals are verified with the recording node's
// policy and clock; two parties' approvals start the key's notice period,
// at whose end the opener and the last approver sign.
type memRequest struct {
	req       custody.Request
	status    custody.Status
	approvals map[custody.Party]bool
	order     []custody.Party // approving parties, in order
	notBefore time.Time
	result    *service.Result
}

func (m *Memory) touch() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (r *memRequest) view() service.View {
	return service.View{ID: r.req.ID(), Request: r.req, Status: r.status, Result: r.result}
}

// Submit implements Cluster.
func (m *Memory) Submit(_ context.Context, party string, req custody.Request) (service.View, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.node(party); err != nil {
		return service.View{}, err
	}
	id := req.ID()
	if _, ok := m.reqs[id]; !ok {
		m.reqs[id] = &memRequest{req: req, status: custody.StatusProposed, approvals: map[custody.Party]bool{}}
		m.touch()
	}
	return m.reqs[id].view(), nil
}

// Get implements Cluster.
func (m *Memory) Get(_ context.Context, party, id string) (service.View, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.node(party); err != nil {
		return service.View{}, err
	}
	r, ok := m.reqs[id]
	if !ok {
		return service.View{}, fmt.Errorf("%w: %.12s at %s", ErrNotFound, id, party)
	}
	return r.view(), nil
}

// Endorse implements Cluster.
func (m *Memory) Endorse(_ context.Context, party string, a custody.Approval) (service.View, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(party)
	if err != nil {
		return service.View{}, err
	}
	r, ok := m.reqs[a.RequestID]
	if !ok {
		return service.View{}, fmt.Errorf("%w: %.12s at %s", ErrNotFound, a.RequestID, party)
	}
	if err := custody.VerifyApproval(n.policy, a, r.req, m.clock.Now()); err != nil {
		return service.View{}, err
	}
	if a.Stance == custody.Approve && !r.approvals[a.Party] {
		r.approvals[a.Party] = true
		r.order = append(r.order, a.Party)
	}
	if len(r.order) >= 2 && r.status == custody.StatusProposed {
		r.status = custody.StatusApproved
		r.notBefore = m.clock.Now().Add(n.policy.NoticeFor(r.req.KeyID))
	}
	m.touch()
	return r.view(), nil
}

// Watch implements Cluster. Time is the twin's: when cond does not hold
// and a request waits only for its notice period, the clock moves to its
// end and the pair signs.
func (m *Memory) Watch(ctx context.Context, party, id string, cond func(service.View) (bool, error)) (service.View, error) {
	var last service.View
	for {
		v, err := m.Get(ctx, party, id)
		if err == nil {
			last = v
			if done, cerr := cond(v); cerr != nil || done {
				return v, cerr
			}
		}
		m.mu.Lock()
		progressed := m.signDue()
		ch := m.changed
		m.mu.Unlock()
		if progressed {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if err != nil {
				return last, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
			}
			return last, fmt.Errorf("gave up waiting: %w", ctx.Err())
		}
	}
}

// signDue moves the clock to the first notice deadline of an approved
// request and signs it; it reports whether it did. m.mu held.
func (m *Memory) signDue() bool {
	for _, r := range m.reqs {
		if r.status != custody.StatusApproved {
			continue
		}
		if now := m.clock.Now(); now.Before(r.notBefore) {
			m.clock.Advance(r.notBefore.Sub(now))
		}
		res, err := m.sign(r.req)
		if err != nil {
			r.status = custody.StatusFailed
		} else {
			r.status, r.result = custody.StatusSigned, res
			res.Coordinator, res.Signers = r.order[0], r.order[:2]
		}
		m.touch()
		return true
	}
	return false
}

// sign signs the request's digests with the key of its child path.
func (m *Memory) sign(req custody.Request) (*service.Result, error) {
	key := m.key
	if req.ChildPath != "" {
		_, tweak, err := tss.ChildKey(key.PubKey(), req.ChildPath)
		if err != nil {
			return nil, err
		}
		var t btcec.ModNScalar
		t.SetByteSlice(tweak.Bytes())
		t.Add(&key.Key)
		key = btcec.PrivKeyFromScalar(&t)
	}
	digests, err := service.DefaultDigester(req)
	if err != nil {
		return nil, err
	}
	res := &service.Result{Complete: true}
	for _, d := range digests {
		r, s := signRS(key, d)
		res.Signatures = append(res.Signatures, service.Signature{Digest: d, R: r, S: s})
	}
	return res, nil
}
