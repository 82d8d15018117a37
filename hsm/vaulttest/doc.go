// Package vaulttest runs a real Vault server for tests: a child process on a
// free loopback port with file storage in a temporary directory, initialised
// and unsealed through the API, with the transit engine mounted. Because
// storage survives a restart, tests can stop Vault, check that sealers fail
// closed, start it again and check that the same sealers recover.
//
//	srv := vaulttest.Start(t, vaulttest.Options{})
//	cfg := srv.SealerConfig(t, "triad-node-a") // token in a 0600 file
//	s, err := hsm.NewVault(ctx, cfg, nil)
//	srv.Stop(t)    // Vault gone: s.Health fails with hsm.ErrUnavailable
//	srv.Restart(t) // back and unsealed: s works again
//
// The binary is $TRIAD_VAULT_BIN, the tools cache of scripts/build-vault.sh,
// or vault on PATH; without one the test is skipped (failed when
// TRIAD_REQUIRE_TOOLS=1). Waits poll with backoff under one deadline; the
// server only listens on 127.0.0.1.
package vaulttest
