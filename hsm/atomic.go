package hsm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tempInfix marks WriteFileAtomic's temporary files: ".<name>.tmp-<random>".
const tempInfix = ".tmp-"

// WriteFileAtomic replaces path with data so that a crash at any moment
// leaves either the old file or the new one, never a mix: it writes a
// temporary file in the same directory, fsyncs it, renames it over path and
// fsyncs the directory. The file gets exactly perm (set with chmod, so the
// umask does not apply). A crash can leave a temporary file behind; see
// RemoveStaleTemp.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return fmt.Errorf("hsm: writing %q: no file name", path)
	}
	f, err := os.CreateTemp(dir, "."+base+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("hsm: writing %s: creating temp file: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("hsm: writing %s: chmod temp file: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("hsm: writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("hsm: writing %s: fsync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("hsm: writing %s: closing temp file: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("hsm: writing %s: rename: %w", path, err)
	}
	if err = syncDir(dir); err != nil {
		// The rename happened; only its durability is in doubt.
		return fmt.Errorf("hsm: writing %s: fsync directory: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// RemoveStaleTemp deletes temporary files that WriteFileAtomic left next to
// path when a process died mid-write. Call it at startup, before any writer
// of path runs. It returns how many files it removed.
func RemoveStaleTemp(path string) (int, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("hsm: removing stale temp files of %s: %w", path, err)
	}
	n := 0
	prefix := "." + base + tempInfix
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), prefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return n, fmt.Errorf("hsm: removing stale temp file: %w", err)
			}
			n++
		}
	}
	return n, nil
}
