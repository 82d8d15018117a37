// Package btc builds, checks, sighashes and finalises the Bitcoin
// transactions of Triad's custody key, and talks to a btcd node.
//
// The custody key is a tss-lib group key: no private key exists, and
// signatures come from a threshold session that signs a 32-byte digest. So
// everything here except Client is a pure function of its inputs, and every
// signing node runs it independently on the same typed request and must get
// the same bytes:
//
//	spend := btc.Spend{Action: btc.ActionRelease, Network: "mainnet", ...}
//	tx, err := btc.Build(spend)            // deterministic, BIP69-ordered
//	err = btc.Check(peerTx, spend)          // a peer's proposal is exactly this spend
//	digests, err := btc.SigHashes(tx, spend.Inputs)  // BIP143, SIGHASH_ALL
//	// one threshold signing session per digest → (r, s)
//	signed, err := btc.Finalize(tx, spend.Inputs, pub, sigs) // low-S DER, witness, script engine
//	txid, err := client.Broadcast(ctx, signed)
//
// Addresses are P2WPKH (CustodyAddress). Per-client addresses use BIP32
// public derivation from the group key (DeriveChild, ParsePath; they forward
// to package tss, where the one derivation lives) with a chain
// code fixed by the key (ChainCode); DeriveChild also returns the additive
// delta that tss-lib's key-derivation signing needs
// (signing.UpdatePublicKeyAndAdjustBigXj, signing.NewLocalPartyWithKDD).
// Hardened paths are refused: they need a private key.
//
// Build spends all given inputs (one key per spend), puts change back to the
// change address unless it is dust, estimates the signed size exactly for
// P2WPKH, and refuses a fee over the ceiling. Check refuses any difference
// from the canonical build with a specific sentinel error (errors.go).
// Finalize returns nothing unless btcd's script engine accepts every input.
//
// Client is a small btcd JSON-RPC client (HTTP POST, no TLS, loopback) with a
// context and deadline on every call. Package btcdtest runs a regtest btcd
// for the end-to-end tests; scripts/install-btcd.sh installs it.
package btc
