// Package testtools finds the external programs the hsm tests drive (a Vault
// server, SoftHSM2) and decides what happens when one is missing: skip, or
// fail when TRIAD_REQUIRE_TOOLS=1 (CI sets it after running
// scripts/install-softhsm.sh and scripts/build-vault.sh).
package testtools
