package reshare

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A used approval stays used after a restart (a new state reading the
// same file); an expired one is pruned from the file; an unreadable
// file refuses every reshare.
func TestReshareNoncesPersist(t *testing.T) {
	ops := newOperators(t)
	path := filepath.Join(t.TempDir(), NonceFile)
	now := time.Now()
	opts := Options{Operators: ops.lookup, NonceFile: path}
	load := func() *state {
		st := &state{opt: opts}
		st.nonces, st.nonceErr = loadNonces(path)
		return st
	}
	spec := testSpec("nonce-1", "regulator", "")
	spec.Expires = now.Add(time.Minute)
	order := ops.order(spec, "custodian", "exchange")
	if err := load().useNonces(order, now); err != nil {
		t.Fatal(err)
	}
	if err := load().useNonces(order, now); !errors.Is(err, ErrApproval) {
		t.Fatalf("replayed approval after a restart: %v", err)
	}
	// One approval of the pair is enough to refuse the order.
	other := ops.order(spec, "exchange", "regulator")
	other.Approvals[0] = order.Approvals[1]
	if err := load().useNonces(other, now); !errors.Is(err, ErrApproval) {
		t.Fatalf("order reusing one approval: %v", err)
	}
	// Past expiry (and the keep margin) the nonces leave the file.
	later := spec.Expires.Add(nonceKeep + time.Second)
	fresh := ops.order(testSpec("nonce-2", "regulator", ""), "regulator", "custodian")
	if err := load().useNonces(fresh, later); err != nil {
		t.Fatal(err)
	}
	if got := load().nonces; len(got) != 2 {
		t.Fatalf("file keeps %d nonces, want the 2 unexpired", len(got))
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := load()
	if err := st.useNonces(ops.order(testSpec("nonce-3", "regulator", ""), "custodian", "exchange"), now); !errors.Is(err, ErrApproval) {
		t.Fatalf("corrupt nonce file did not refuse: %v", err)
	}
}
