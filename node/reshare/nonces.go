package reshare

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/triad-custody/triad/hsm"
)

// A reshare approval's nonce is single-use on every node, across
// restarts: the used nonces are kept in a file in the node's data dir
// (Options.NonceFile), replaced atomically before the reshare
// that used them starts. A nonce is kept until its approval has expired
// (plus nonceKeep): after that the approval is refused as expired anyway.
// A file that cannot be read or written refuses every reshare (fail
// closed) rather than forget which approvals were used.

// NonceFile is the used-nonce file's name in a node's data dir.
const NonceFile = "reshare-nonces.json"

// nonceKeep keeps a used nonce this long past its approval's expiry, so a
// clock set back a little does not revive it.
const nonceKeep = time.Hour

// maxNonces bounds the file: each reshare uses two or three nonces.
const maxNonces = 4096

// nonceFile is the on-disk form: party/nonce → the approval's expiry.
type nonceFile struct {
	Version int                  `json:"version"`
	Used    map[string]time.Time `json:"used"`
}

// loadNonces reads the used nonces; a missing file is an empty set.
func loadNonces(path string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if path == "" {
		return out, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: reading used reshare nonces: %w", err)
	}
	var f nonceFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 || len(f.Used) > maxNonces {
		return nil, fmt.Errorf("node: %s is unreadable: refusing reshares until an operator repairs it", path)
	}
	for k, v := range f.Used {
		out[k] = v
	}
	return out, nil
}

// saveNonces replaces the file with used, without the entries expired
// before now.
func saveNonces(path string, used map[string]time.Time, now time.Time) error {
	f := nonceFile{Version: 1, Used: map[string]time.Time{}}
	for k, exp := range used {
		if now.Before(exp.Add(nonceKeep)) {
			f.Used[k] = exp.UTC()
		}
	}
	if len(f.Used) > maxNonces {
		return fmt.Errorf("node: %d unexpired reshare nonces: refusing more", len(f.Used))
	}
	if path == "" {
		return nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := hsm.WriteFileAtomic(path, b, 0o600); err != nil {
		return fmt.Errorf("node: recording used reshare nonces: %w", err)
	}
	return nil
}

// useNonces records the approvals' nonces, durably when the node has a
// nonce file; a replayed approval is refused, here or after a restart.
func (st *state) useNonces(o Order, now time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.nonceErr != nil {
		return fmt.Errorf("%w: %v", ErrApproval, st.nonceErr)
	}
	next := make(map[string]time.Time, len(st.nonces)+len(o.Approvals))
	for k, v := range st.nonces {
		next[k] = v
	}
	for _, a := range o.Approvals {
		k := a.Party + "/" + a.Nonce
		if _, ok := next[k]; ok {
			return fmt.Errorf("%w: approval nonce of %s/%s already used", ErrApproval, a.Party, a.Operator)
		}
		next[k] = a.Expires
	}
	if err := saveNonces(st.opt.NonceFile, next, now); err != nil {
		return fmt.Errorf("%w: %v", ErrApproval, err)
	}
	st.nonces = next
	return nil
}
