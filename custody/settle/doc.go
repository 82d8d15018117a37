// Package settle turns Triad's typed custody requests into Bitcoin
// transactions that every signing node builds, checks and sighashes for
// itself, and finalises, verifies and broadcasts the signed result.
//
// A transfer request (collateral_release, liquidation, emergency_unfreeze)
// names its account, amount, destination and fee rate; the coins it spends
// are its plan (custody.Input), which the coordinator chooses from its own
// Bitcoin node (ChooseInputs, skipping coins its store has reserved for
// other requests) and every signer looks up on its own Bitcoin node
// before it joins (CheckInputs: value, script, unspent, confirmations). A
// node without a Bitcoin node signs no spend. From the request with its
// plan, this node's own policy and its own key share, Plan builds the one
// transaction the request means:
//
//	the account's key and child path       → source key (BIP32, non-hardened) and P2WPKH address
//	the plan's coins at that address       → inputs (every node derives the script itself)
//	destination allowed for the kind       → one output of the amount
//	change                                 → back to the source custody address
//	fee rate ≤ policy max_fee_rate         → fee (≤ max_fee); the effective rate may not exceed the ceiling
//
// and its BIP143 sighashes, one per input. Each input is one threshold
// signature (one node.Sign session named "<request>/<input>/<attempt>",
// custody.SessionName). Each signer joins only if the proposed digest is
// the one it computed for that input (Digests, the service's Digester) and
// every input checked out on its own Bitcoin node (CheckInputs): the one
// decision, custody.DecideJoin, weighs those facts, so a coordinator that
// built the transaction differently is refused by the honest node. After
// signing:
//
//	plan, tx, err := settler.Finalize(ctx, req, sigs) // low-S DER, witness, btcd script engine
//	rec, err := settler.Settle(ctx, req, sigs)         // Finalize, record, broadcast (idempotent)
//	rec, err = settler.Refresh(ctx, req)               // confirmations from this node's btcd
//
// With package service the settler is the Digester and Finalizer:
//
//	svc, _ := service.Open(cfg, service.Options{
//		Digester:  settler.Digester(service.DefaultDigester),
//		Finalizer: settler.Finalizer(),
//	})
//
// It is also the service's Batcher (batch.go): PlanBatch builds a
// liquidation batch's one transaction from its members (payment i at
// output i, change per account, a fee share per member, each input
// locked to its own account key), SettleBatch finalizes it with
// btc.FinalizeEach and records every member's txid and output index.
//
// The chain boundary (chains.go) is one interface per chain,
// ChainSettler: plan a transaction from a typed request, check a plan on
// the node's own chain node, hold what it uses once the node decided to
// sign (these three are service.Chain, the boundary as the service
// depends on it), give the digests to sign, finalize, broadcast and track
// confirmations; it assumes no coins. Bitcoin implements it over the
// Settler (bitcoin.go: coins, BIP143 sighashes, the script engine), EVM
// over evm.Chain (evm.go: PlanCustody instead of coins, CheckCustody as
// the partner's check and HoldCustody once it decided to sign, the
// EIP-1559 signer hash as the digest, FinalizeCustody and broadcast,
// tracked to the chain's depth; never in a liquidation batch). Chains is
// the service's seams (service.Chain, Digester, Finalizer, Tracker) over
// a map from the chain of the request's asset to its implementation;
// ChainsForNode builds it from the node's bitcoin and evm.chains sections
// and its custody store, where the chains read what the service signed.
//
// The txid follows from the request (witnesses do not change it), so every
// node, signer or not, can track a settlement it did not broadcast. The
// members of a liquidation batch share its transaction: a tracking pass
// asks this node's Bitcoin node about it once (refreshBatch), and a
// member's record is written only when its confirmations change.
// Nothing here logs or returns key material: only public keys, addresses,
// digests and signatures.
package settle
