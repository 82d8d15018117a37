package hsmadmin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/keystore"
)

// Status checks cfg's HSM directly and lists the node's sealed files
// with the key version of each; an error when the HSM is not ready or a
// file cannot be opened. Nothing is unsealed.
func Status(ctx context.Context, out io.Writer, cfg *node.Config) error {
	fmt.Fprintf(out, "party      %s\nbackend    %s\n", cfg.Party, Describe(cfg.HSM))
	var notReady error
	var info *hsm.VaultKeyInfo
	s, err := Open(ctx, cfg)
	if err != nil {
		if errors.Is(err, hsm.ErrConfig) {
			return err
		}
		notReady = err
	} else {
		defer s.Close()
		notReady = s.Health(ctx)
		if kv, ok := s.(keystore.KeyVersions); ok && notReady == nil {
			ki, err := kv.KeyInfo(ctx)
			if err != nil {
				notReady = err
			} else {
				info = &ki
			}
		}
	}
	if notReady != nil {
		fmt.Fprintf(out, "health     NOT READY: %v\n", notReady)
	} else {
		fmt.Fprintf(out, "health     ok\n")
	}
	if info != nil {
		fmt.Fprintf(out, "key        latest version %d, min_decryption_version %d\n", info.LatestVersion, info.MinDecryptionVersion)
	}
	files, err := keystore.SealedFiles(cfg.SealedDir(), s)
	if err != nil {
		return err
	}
	var unusable int
	for _, f := range files {
		note, bad := describeSealed(f, cfg.HSM.Backend, info)
		if bad {
			unusable++
		}
		fmt.Fprintf(out, "file       %-28s %s\n", f.Rel, note)
	}
	if len(files) == 0 {
		fmt.Fprintf(out, "file       (none yet: run `triad init`)\n")
	}
	switch {
	case notReady != nil:
		return fmt.Errorf("the HSM of %s is NOT READY: the node cannot sign", cfg.Party)
	case unusable > 0:
		return fmt.Errorf("%d sealed file(s) of %s cannot be opened with this HSM key", unusable, cfg.Party)
	}
	return nil
}

// describeSealed reads a blob's header (no unsealing) and says whether the
// configured key can still open it.
func describeSealed(f keystore.SealedEntry, backend string, info *hsm.VaultKeyInfo) (string, bool) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return "UNREADABLE: " + err.Error(), true
	}
	bi, err := hsm.Inspect(b)
	if err != nil {
		return "UNUSABLE: " + err.Error(), true
	}
	if bi.Backend != backend {
		return fmt.Sprintf("UNUSABLE: sealed by %s, but the config says %s", bi.Backend, backend), true
	}
	if bi.Backend != hsm.BackendVault {
		return bi.Backend, false
	}
	note := fmt.Sprintf("%s v%d", bi.Backend, bi.KeyVersion)
	switch {
	case info == nil:
	case bi.KeyVersion < info.MinDecryptionVersion:
		return note + fmt.Sprintf("  UNUSABLE: below min_decryption_version %d", info.MinDecryptionVersion), true
	case bi.KeyVersion < info.LatestVersion:
		note += fmt.Sprintf("  rewrap pending (latest v%d): run `triad shard rewrap`", info.LatestVersion)
	}
	return note, false
}
