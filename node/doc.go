// Package node is the Triad MPC daemon: the router that multiplexes tss
// sessions over a transport to the pinned peers, the coordinator that
// chooses signers and fails over, keygen; resharing is node/reshare
// (written against reshare.Node, which the node implements in
// reshare_host.go; reshare.go keeps the node's public names for it); its
// sealed key store is node/keystore, its transport node/p2p (the Transport seam and
// the libp2p host) and the transport's in-memory twin node/memnet. It imports no custody package (internal/structure checks): the decisions it needs
// from custody come in as an Authorizer (may this node join a signing
// session?), given where the node begins serving (Runtime.Serve,
// Node.Serve; node.Options.Authorizer serves at once), and as functions of StartOptions (KeygenRule: which keys it
// may generate and whether their keygen needs operator approvals;
// Operators: the operators' keys that approve a keygen or a reshare).
// Package daemon passes custody's implementations and starts everything;
// the HTTP API is package api.
//
// The host (node/p2p) admits only pinned peers: by address before Noise
// when every pinned peer has an IP address, by peer ID after it, and it
// dials a pinned peer only at its pinned addresses. A reshare that
// replaces a party re-pins it on the running host (p2p.Host.Repin) and
// records the new peer ID in the data dir (pins.go), which wins over the
// config at the next start.
//
// The flow of one signature:
//
//	API ─► Node.Sign ─► coordinator: pick a signer pair (deterministic,
//	       connected peers first, then peers whose circuit breaker is
//	       closed), derive the session ID, send a proposal
//	   ─► every signer checks the proposal itself (Authorizer), opens a
//	       tss.Session and registers it with the router
//	   ─► tss.Run drives each session; the router hands it the envelopes
//	       whose authenticated sender and session ID match
//	   ─► on a timeout or an unreachable/faulty peer the attempt aborts,
//	       the culprit is excluded and the other pair tries once, with a
//	       fresh session ID. One sign_timeout bounds the whole call; a
//	       partner silent for a third of it is given up on early while
//	       the other partner can take over.
//
// Every abort is an incident (incidents.go), kept across restarts in the
// data dir's incidents.json; a peer blamed for repeated aborts has its
// circuit breaker opened for a while and is routed around.
//
// The key store (node/keystore) seals each share under an AAD that carries
// its generation (party#n, +1 per reshare). A reshare's commit puts the
// new share in force and then re-keys the sealer (keystore.Store.Rekey: rotate,
// rewrap every sealed file of the data dir, retire the old key), so an old
// share — in a backup, on a lost disk — no longer unseals.
//
// Proposals from peers (proposals.go) are bounded per peer, past which
// they are declined as busy; a proposer that abandons a session withdraws
// it, and the nodes that joined leave at once. A keygen's share is put in
// force by its parties, not by its proposer: from protocol version 3 each
// party seals its share as pending, sends a commit signed with its secret
// share, refuses a withdrawal from then on, and keeps the key once it
// holds every party's commit (keygen_commit.go; a version-2 node removes
// the share of a keygen withdrawn after it saved it, keygen_withdraw.go).
// Keygen (keygen.go) runs only
// for keys of the node's own configuration, with its own parties and
// threshold, under a fresh session ID per attempt. Replay protection rests
// on session IDs (router.go), never on payload bytes.
//
// Peers speak a versioned protocol (versions.go): a hello announces a
// node's range of protocol versions, each frame says its version, and a
// node sends a peer the highest version both know, so the three nodes can
// be upgraded one at a time. A peer outside the range is refused, naming
// both sides' versions (an incident, and sends to it fail at once).
//
// p2p.Transport is the seam between the router and the network: p2p.Host
// is the libp2p implementation, node/memnet the in-memory twin for tests
// (drop, delay, isolate, intercept, seeded chaos). Both pass
// p2ptest.Conformance.
package node
