package keystore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/triad-custody/triad/hsm"
)

// What a sealed file of a node's data dir holds (SealedEntry.Kind).
const (
	SealedIdentity  = "identity"      // identity.sealed: the libp2p private key
	SealedPreParams = "preparams"     // preparams.sealed: the pre-params pool
	SealedShare     = "share"         // keys/<id>.share: a share of a group key
	SealedPending   = "pending-share" // keys/<id>.share.pending: a reshare's uncommitted share
)

// SealedEntry is one sealed file of a node's data dir, with the AAD it is
// bound to (exactly the one the runtime and the key store use).
type SealedEntry struct {
	Kind string
	// Rel is the path relative to the data dir, for reports.
	Rel string
	hsm.SealedFile
}

// SealedFiles lists the sealed files present in data dir d — the libp2p
// identity, the pre-params pool, every key share and any uncommitted
// reshare share — each bound to its AAD and to sealer s. Only directory
// listings are read, never the files. Files that do not exist are left out.
func SealedFiles(d DataDir, s hsm.Sealer) ([]SealedEntry, error) {
	var out []SealedEntry
	add := func(kind string, f hsm.SealedFile) error {
		if _, err := os.Stat(f.Path); errors.Is(err, os.ErrNotExist) {
			return nil
		} else if err != nil {
			return fmt.Errorf("node: listing sealed files: %w", err)
		}
		rel, err := filepath.Rel(d.Path, f.Path)
		if err != nil {
			rel = f.Path
		}
		out = append(out, SealedEntry{Kind: kind, Rel: rel, SealedFile: f})
		return nil
	}
	if err := add(SealedIdentity, d.Identity(s)); err != nil {
		return nil, err
	}
	if err := add(SealedPreParams, d.PreParams(s)); err != nil {
		return nil, err
	}
	// A Store value, not New: listing must not create the directory or
	// remove anything.
	ks := &Store{dir: d.Keys(), node: d.Party, sealer: s}
	keys, err := ks.sealedEntries(d.Path)
	if err != nil {
		return nil, err
	}
	return append(out, keys...), nil
}

// sealedEntries lists the key store's share and pending files, each bound
// to the AAD of its recorded generation, with paths relative to base.
func (k *Store) sealedEntries(base string) ([]SealedEntry, error) {
	ents, err := os.ReadDir(k.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: listing sealed files: %w", err)
	}
	var ids []string
	seen := map[string]bool{}
	for _, e := range ents {
		name, _ := strings.CutSuffix(e.Name(), ".pending")
		if id, ok := strings.CutSuffix(name, ".share"); ok && ValidName(id) && e.Type().IsRegular() && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []SealedEntry
	for _, id := range ids {
		r, err := k.Generations(id)
		if err != nil {
			return nil, err
		}
		for kind, f := range map[string]hsm.SealedFile{SealedShare: k.File(id, r.Share), SealedPending: k.PendingFile(id)} {
			if _, err := os.Stat(f.Path); errors.Is(err, os.ErrNotExist) {
				continue
			} else if err != nil {
				return nil, fmt.Errorf("node: listing sealed files: %w", err)
			}
			rel, err := filepath.Rel(base, f.Path)
			if err != nil {
				rel = f.Path
			}
			out = append(out, SealedEntry{Kind: kind, Rel: rel, SealedFile: f})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Rel < out[j].Rel })
	return out, nil
}

// RewrapResult reports what RewrapSealed did with one sealed file.
type RewrapResult struct {
	SealedEntry
	// From and To are the Transit key versions before and after; equal
	// when the file was already current (Skipped) or not rewrapped (Err).
	From, To int
	Skipped  bool
	Err      error
}

// KeyVersions is implemented by sealers whose key has versions
// (*hsm.Vault).
type KeyVersions interface {
	KeyInfo(ctx context.Context) (hsm.VaultKeyInfo, error)
}

// ErrChangedDuringRewrap: a file was replaced on disk (by a running node)
// between being read and being rewrapped; it was left alone.
var ErrChangedDuringRewrap = errors.New("node: file changed on disk while being rewrapped")

// RewrapSealed re-encrypts every sealed file of data dir d under the newest
// version of r's key without the plaintext leaving the HSM, and replaces
// each file atomically. Files already at the newest version are skipped
// (when r reports key versions). It goes on past a failed file and calls
// report, if not nil, once per file; the error joins every failure.
//
// A blob sealed under a version below the key's min_decryption_version
// cannot be rewrapped: its error wraps hsm.ErrVersionBelowMinimum and says
// what to do. Best run with the node stopped; a file the node replaces
// meanwhile is left alone (ErrChangedDuringRewrap) and rewrapping again
// picks it up.
func RewrapSealed(ctx context.Context, d DataDir, r hsm.Rewrapper, report func(RewrapResult)) ([]RewrapResult, error) {
	files, err := SealedFiles(d, r)
	if err != nil {
		return nil, err
	}
	var info *hsm.VaultKeyInfo
	if kv, ok := r.(KeyVersions); ok {
		ki, err := kv.KeyInfo(ctx)
		if err != nil {
			return nil, fmt.Errorf("node: rewrap: %w", err)
		}
		info = &ki
	}
	var results []RewrapResult
	var errs []error
	for _, f := range files {
		res := rewrapOne(ctx, f, r, info)
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Rel, res.Err))
		}
		results = append(results, res)
		if report != nil {
			report(res)
		}
	}
	return results, errors.Join(errs...)
}

func readSealed(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	const limit = 2*hsm.MaxPlaintext + 4096
	b, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%w: larger than %d bytes", hsm.ErrMalformed, limit)
	}
	return b, nil
}

func rewrapOne(ctx context.Context, f SealedEntry, r hsm.Rewrapper, info *hsm.VaultKeyInfo) RewrapResult {
	res := RewrapResult{SealedEntry: f}
	old, err := readSealed(f.Path)
	if err != nil {
		res.Err = fmt.Errorf("reading: %w", err)
		return res
	}
	bi, err := hsm.Inspect(old)
	if err != nil {
		res.Err = err
		return res
	}
	if bi.Backend != r.Backend() {
		res.Err = fmt.Errorf("%w: sealed by the %s backend, not %s; rewrap cannot move a file between backends",
			hsm.ErrWrongBackend, bi.Backend, r.Backend())
		return res
	}
	res.From, res.To = bi.KeyVersion, bi.KeyVersion
	if info != nil {
		if bi.KeyVersion < info.MinDecryptionVersion {
			res.Err = belowMinimum(bi.KeyVersion, *info)
			return res
		}
		if bi.KeyVersion >= info.LatestVersion {
			res.Skipped = true
			return res
		}
	}
	aad := f.AAD.Encode()
	fresh, err := r.Rewrap(ctx, old, aad)
	if err != nil {
		if errors.Is(err, hsm.ErrVersionBelowMinimum) {
			err = fmt.Errorf("%w; the file is at version %d: lower min_decryption_version to %d, rewrap, then raise it again", err, bi.KeyVersion, bi.KeyVersion)
		}
		res.Err = err
		return res
	}
	// Like SealedFile.Write: never replace a working file by one that does
	// not open. The plaintext is only checked, then zeroed.
	pt, err := r.Unseal(ctx, fresh, aad)
	clear(pt)
	if err != nil {
		res.Err = fmt.Errorf("verifying the rewrapped blob: %w", err)
		return res
	}
	nbi, err := hsm.Inspect(fresh)
	if err != nil {
		res.Err = fmt.Errorf("verifying the rewrapped blob: %w", err)
		return res
	}
	now, err := readSealed(f.Path)
	if err != nil || !bytes.Equal(now, old) {
		res.Err = fmt.Errorf("%w; left as it is: run rewrap again", ErrChangedDuringRewrap)
		return res
	}
	if err := hsm.WriteFileAtomic(f.Path, fresh, 0o600); err != nil {
		res.Err = err
		return res
	}
	res.To = nbi.KeyVersion
	return res
}

func belowMinimum(v int, info hsm.VaultKeyInfo) error {
	return fmt.Errorf("%w: sealed under version %d of transit key %q, below its min_decryption_version %d, so Vault refuses to decrypt it; "+
		"to recover, lower min_decryption_version to %d, rewrap, then raise it again",
		hsm.ErrVersionBelowMinimum, v, info.Name, info.MinDecryptionVersion, v)
}
