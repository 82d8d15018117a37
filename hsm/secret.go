package hsm

import (
	"bytes"
	"fmt"
	"os"

	"github.com/triad-custody/triad/internal/securefile"
)

// maxSecretFile bounds PIN, passphrase, token and secret-id files.
const maxSecretFile = 64 << 10

// readSecret loads a secret from the environment variable envName or, if
// that is empty, from file. key is the config key prefix used in errors,
// e.g. "hsm.pkcs11.pin". Files must not be readable by others; one trailing
// newline is stripped. The secret's bytes never appear in an error.
func readSecret(key, envName, file string) ([]byte, error) {
	switch {
	case envName != "":
		v, ok := os.LookupEnv(envName)
		if !ok || v == "" {
			return nil, fmt.Errorf("%w: %s_env: environment variable %s is unset or empty", ErrConfig, key, envName)
		}
		return []byte(v), nil
	case file != "":
		return readSecretFile(key+"_file", file)
	}
	return nil, fmt.Errorf("%w: %s_env or %s_file: one is required", ErrConfig, key, key)
}

func readSecretFile(key, path string) ([]byte, error) {
	b, err := securefile.Read(key, path, maxSecretFile, true)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: %s: %s is empty", ErrConfig, key, path)
	}
	return b, nil
}
