package hsm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
)

// SealedFile is a file holding one sealed secret, bound to AAD. Write seals
// and replaces the file atomically; Read reads and unseals it.
//
//	f := hsm.SealedFile{Path: dir + "/shard.sealed", Sealer: s,
//		AAD: hsm.AAD{Node: "node-a", Party: "1", KeyID: "btc-cold", Version: 3}}
//	err := f.Write(ctx, shardBytes)
//	shard, err := f.Read(ctx)
type SealedFile struct {
	Path   string
	Sealer Sealer
	AAD    AAD
	// Perm of the written file; zero means 0600.
	Perm os.FileMode
}

// Write seals plaintext, checks that the blob unseals back to it, and only
// then atomically replaces the file, so a working shard is never replaced
// by one that does not open. Nothing is written if either step fails: there
// is no plaintext fallback.
func (f SealedFile) Write(ctx context.Context, plaintext []byte) error {
	if err := f.AAD.Validate(); err != nil {
		return fmt.Errorf("writing sealed file %s: %w", f.Path, err)
	}
	aad := f.AAD.Encode()
	sealed, err := f.Sealer.Seal(ctx, plaintext, aad)
	if err != nil {
		return fmt.Errorf("writing sealed file %s (%s): %w", f.Path, f.AAD, err)
	}
	check, err := f.Sealer.Unseal(ctx, sealed, aad)
	same := err == nil && bytes.Equal(check, plaintext)
	zero(check)
	if err != nil {
		return fmt.Errorf("writing sealed file %s (%s): verifying the new blob: %w", f.Path, f.AAD, err)
	}
	if !same {
		return fmt.Errorf("writing sealed file %s (%s): %w: new blob does not unseal to what was sealed", f.Path, f.AAD, ErrBackend)
	}
	perm := f.Perm
	if perm == 0 {
		perm = 0o600
	}
	return WriteFileAtomic(f.Path, sealed, perm)
}

// Read reads and unseals the file. The caller should zero the result after
// use.
func (f SealedFile) Read(ctx context.Context) ([]byte, error) {
	if err := f.AAD.Validate(); err != nil {
		return nil, fmt.Errorf("reading sealed file %s: %w", f.Path, err)
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("hsm: reading sealed file: %w", err)
	}
	defer fh.Close()
	sealed, err := io.ReadAll(io.LimitReader(fh, maxSealed+1))
	if err != nil {
		return nil, fmt.Errorf("hsm: reading sealed file %s: %w", f.Path, err)
	}
	pt, err := f.Sealer.Unseal(ctx, sealed, f.AAD.Encode())
	if err != nil {
		return nil, fmt.Errorf("reading sealed file %s (%s): %w", f.Path, f.AAD, err)
	}
	return pt, nil
}
