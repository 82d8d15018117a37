// Package softhsmtest gives tests a fresh SoftHSM2 token: a temporary token
// directory, SOFTHSM2_CONF pointing at a temporary config (set with
// t.Setenv, so tests using it cannot run in parallel), and a token
// initialised with softhsm2-util under a random label, PIN and SO PIN.
//
//	tok := softhsmtest.NewToken(t)
//	cfg := tok.Config("triad-node-a") // PIN in a 0600 file
//	created, err := hsm.InitPKCS11(ctx, cfg)
//	s, err := hsm.NewPKCS11(ctx, cfg, nil)
//
// The module is $TRIAD_SOFTHSM_MODULE or a standard path (see
// scripts/install-softhsm.sh); without SoftHSM the test is skipped (failed
// when TRIAD_REQUIRE_TOOLS=1). SoftHSM reads SOFTHSM2_CONF when the library
// is initialised, so close every sealer of one token before making the next.
package softhsmtest
