// Package demo is `triad demo`: the custodian, exchange and regulator
// nodes started in one process on real libp2p over 127.0.0.1, a 2-of-3 DKG
// of a fresh canary key, a drill-message signature from each of the three
// pairs, each verified with btcec.
//
//	err := demo.Run(ctx, os.Stdout, dir, log) // dir keeps identities and pre-params, sealed
//
// The nodes seal with a local passphrase kept in dir, not an HSM; each
// node's first pre-params are kept (sealed) and reused on later runs so
// only the first run waits for safe primes. Reusing pre-params across
// keys is for demos only; a real node never does.
package demo
