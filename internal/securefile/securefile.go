package securefile

import (
	"fmt"
	"io"
	"os"
)

// Read returns the contents of path, at most limit bytes. key names where
// the path came from ("hsm.pkcs11.pin_file", "--tls-key") and starts every
// error. A private file must not be accessible to other users.
func Read(key, path string, limit int, private bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %s is not a regular file", key, path)
	}
	if private && st.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("%s: %s is accessible to other users (mode %v); chmod o-rwx", key, path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %v", key, path, err)
	}
	if len(b) > limit {
		clear(b)
		return nil, fmt.Errorf("%s: %s is larger than %d bytes", key, path, limit)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: %s is empty", key, path)
	}
	return b, nil
}
