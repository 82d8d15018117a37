// Package securefile reads the small files a node is configured with —
// secrets (PINs, passphrases, private keys) and certificates — with the
// same checks everywhere: a regular file, bounded in size, not empty, and,
// for a secret, not accessible to other users. Errors name the config key
// or flag the file came from and never contain the file's bytes.
package securefile
