// Package holdings makes and checks Triad's proofs of holdings: what each
// client account holds, read from this node's own chain view, committed
// to in a Merkle tree whose root the dedicated attestation key signs 2-of-3,
// and, per account, an inclusion proof the exchange checks offline against
// the attestation key's group public key (issue 13). SPEC.md fixes the
// encoding and carries test vectors that vectors_test.go checks.
//
// Nothing here takes a holding from a request or a peer:
//
//	view := holdings.View{Policy: pol, Chain: btcClient, Addresses: settler, Reserved: st.Reserved,
//		EVM: chains.EVM, Open: holdings.OpenIn(st)}
//	leaves, heads, err := view.Read(ctx)           // UTXOs under each account's address, minus reserved coins;
//	                                               // per EVM asset, balanceOf at one block, minus open requests
//	tree, err := holdings.Build(leaves)            // sorted by (account, asset); tagged leaf/node hashes
//	snap := holdings.Snapshot{Time: now, Root: tree.Root(), Leaves: tree.Size(), Chains: heads}
//	digest, _ := snap.Digest()                     // tagged: never a transaction digest
//	... a 2-of-3 signature by the attestation key (Attester; each signer's Authorizer
//	    recomputes the root from its own chain view before it joins) ...
//	proof, err := holdings.ProofFor(tree, attestation, account)  // Attester.Proof: the latest signed
//	err = proof.Verify(groupPub)                   // offline: `triad proof verify`
//
// On a node, Attester.Attest does the above on the custodian (the
// coordinator), and Authorizer sits in front of the custody service on
// every node: it joins an attestation only on a key of role attestation,
// with the custodian among the signers, over the snapshot's own digest,
// fresh by its own clock, and only if its own View gives the same chain
// heads, root and leaf count; any other proposal on an attestation key is
// refused, the rest goes to the service. Package holdingstest runs three
// such nodes for tests.
//
// Attester.Run signs a snapshot at every scheduled time (Schedule) and
// Attester.File keeps the latest across restarts (keep.go). Compare
// reconciles the nodes' own views (NodeView), naming the node that differs
// from the majority and each leaf that differs; Reconciler (every node)
// answers peers' requests for its view, with its audit chain head
// (AuditHead), over the node network (ViewTopic) and, on the regulator's
// node, runs Compare and CompareAudit on schedule, records the Report on
// the audit chain and a disagreement as an incident on every node; a node
// that cannot read its own view answers with its error (Report.Failed).
//
// Credit (credit.go) turns a verified proof into a credit line: Σ amount ×
// price × the asset's collateral factor, capped at the policy's leverage,
// with prices only from a fresh price input signed by a key the policy
// names. CreditBook (the exchange's node) keeps the latest verified proof
// per account and the latest prices, and gives the custody service the
// credit figure (custody.State.Credit) each liquidation is checked against.
package holdings
