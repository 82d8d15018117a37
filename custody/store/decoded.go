package store

import (
	"slices"
	"sync"

	"github.com/triad-custody/triad/custody"
)

// decodedRequests remembers the last stored requests decoded, by their
// exact stored bytes. A stored request never changes (its ID is the hash
// of its content), and a node reads the same ones over and over (a batch
// of 50 liquidations read its members once per input session and per
// member result: thousands of strict JSON decodes in a storm). The same
// bytes always decode to the same request, so a hit is what decoding them
// again would give; each caller gets its own copy.
type decodedRequests struct {
	mu   sync.Mutex
	m    map[string]decodedRequest // stored bytes → the request they decode to
	fifo []string
}

type decodedRequest struct {
	req custody.Request
	id  string
}

// decodedKept bounds the memo (a few hundred open requests in a storm).
const decodedKept = 1024

var decoded decodedRequests

// decodeStored is custody.DecodeCanonicalRequest of b, and the request's
// ID, remembered.
func decodeStored(b []byte) (custody.Request, string, error) {
	decoded.mu.Lock()
	d, ok := decoded.m[string(b)]
	decoded.mu.Unlock()
	if ok {
		return cloneRequest(d.req), d.id, nil
	}
	r, err := custody.DecodeCanonicalRequest(b)
	if err != nil {
		return r, "", err
	}
	id := r.ID()
	decoded.mu.Lock()
	defer decoded.mu.Unlock()
	if decoded.m == nil {
		decoded.m = map[string]decodedRequest{}
	}
	if _, ok := decoded.m[string(b)]; !ok {
		decoded.m[string(b)] = decodedRequest{req: cloneRequest(r), id: id}
		decoded.fifo = append(decoded.fifo, string(b))
		if len(decoded.fifo) > decodedKept {
			delete(decoded.m, decoded.fifo[0])
			decoded.fifo = decoded.fifo[1:]
		}
	}
	return r, id, nil
}

// cloneRequest copies what a caller could change in place: the evidence
// (a stored request has no plan: Inputs and EVM are not in its bytes).
func cloneRequest(r custody.Request) custody.Request {
	if r.Evidence != nil {
		ev := *r.Evidence
		ev.Collateral = slices.Clone(ev.Collateral)
		ev.Signature = slices.Clone(ev.Signature)
		r.Evidence = &ev
	}
	r.Inputs = slices.Clone(r.Inputs)
	if r.EVM != nil {
		e := *r.EVM
		r.EVM = &e
	}
	return r
}
