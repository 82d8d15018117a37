// Package tss drives bnb-chain/tss-lib v2 for Triad: distributed key
// generation, threshold signing and (for recovery) resharing, as sessions
// that take envelopes in and give envelopes and a result out. It imports no
// network code; a test enforces that.
//
// A Session is driven like etcd-io/raft's RawNode:
//
//	s, err := tss.NewSignSession(cfg, share, digest)
//	if err := s.Start(); err != nil { ... }
//	for !s.Done() {
//		send(s.Outbox())            // envelopes for the peers
//		in := <-inbox               // authenticated sender + envelope
//		s.Deliver(in.From, in.Env)  // checked here before tss-lib sees it
//	}
//	sig, err := s.Signature()
//
// Run does exactly that over any Conn, with one deadline for the session.
//
// Every envelope is checked before tss-lib sees it (guard.go): session ID,
// claimed sender against the authenticated node, participant membership,
// message type for the protocol, round and broadcast flag, size bounds on
// every field, proofs that tss-lib v2.0.2 treats as optional, and duplicates.
// Every big integer of every message is then checked against the sender's
// and the receiver's public parameters (fields.go: ranges, coprimality,
// lengths, points on the curve): tss-lib verifies some proofs on goroutines
// of its own, where a panic would kill the node and no recover can reach,
// so a malformed value must never get to Update. It aborts the session
// naming the sender.
// A second, different message from one sender for one message type is
// equivocation: the session aborts and the sender is blamed. In sessions with
// three or more participants every party echoes a digest of the broadcasts it
// received before a result is released (echo.go), so a broadcast that differs
// between receivers aborts the session and names its sender.
//
// Failures are *Error values that carry the culprit parties.
//
// Two things every layer above shares live here, the lowest package that
// needs them: Signature, Triad's one secp256k1 signature type, with its one
// verifier (Signature.Verify) and its hex JSON form (signature.go); and
// BIP32 public derivation (bip32.go): ChildKey gives a group key's child
// along a path and the tweak a signer passes as SignConfig.Delta to sign
// as that child.
//
// After a keygen, each party signs a commit with its own secret share,
// which every other party verifies against that party's public share
// (commit.go): node/ uses it to put a new key in force only once every
// party has committed.
package tss
