// Package evm settles custody requests on an EVM chain: ERC-20 transfer(to,
// amount) of tokenized collateral (USDC, tokenized money-market-fund
// shares) and plain value transfers for gas, as EIP-1559 (type-2)
// transactions built with go-ethereum's types and signer (no hand-written
// RLP or Keccak).
//
// Keys. An account's key is the threshold group key's BIP32 non-hardened
// child along its child path, derived exactly as for Bitcoin
// (tss.ChildKey); its address is the Keccak of the
// uncompressed key (Address; EIP-55 via common.Address.Hex). DeriveAccount
// also returns the tweak a tss signing session needs (tss.SignConfig.Delta).
//
// The chain boundary. Chain is one node's view of one chain: its policy
// (Config from the node's config, assets and accounts from its party
// policy, NewPolicy), its OWN EVM node (Node: ethclient over JSON-RPC) and
// the nonces open requests hold (NonceBook). A settlement goes:
//
//	plan, err := chain.Plan(ctx, req)              // coordinator: nonce, fees, gas from its own node
//	signing, err := chain.Authorize(ctx, req, plan) // every signer: Check, then hold the nonce
//	// one threshold session over signing.Digest with signing.Delta → (r, s)
//	tx, err := evm.Finalize(plan, r, s)             // low-s, recovery id, recovers to plan.From
//	hash, err := chain.Broadcast(ctx, tx)
//	paid, err := chain.Paid(ctx, hash)               // Confirmations ≥ policy depth
//
// (Chain.Sign is Authorize, a SignFunc and Finalize in one.) For a typed
// custody request only the coordinator's choices travel, in its plan
// (custody.Request.EVM: chain ID, nonce, fee caps, gas; Plan.Choices):
// PlanCustody plans and attaches them, and every node rebuilds the rest of
// the transaction from the request and its own policy (PlanOf) before it
// checks (CheckCustody), holds the nonce and signs (AuthorizeCustody) or
// finalizes (FinalizeCustody). Check rebuilds
// the transaction from the typed request and refuses, with a *Refusal and
// its Reason, a plan that differs, a chain ID other than the policy's and
// its node's, a token not on the allowlist or whose decimals() differ from
// the configured decimals, a recipient the policy does not allow for the
// account and kind, an amount malformed or over the asset's cap or the
// account's balance, a max fee or tip over its cap, a gas limit under its
// own estimate or over the cap, and a nonce already used, held by another
// open request or pending in its node's mempool. One request holds one
// nonce, so two transactions paying one request can never both be mined.
// A refused plan is never signed and holds nothing.
//
// Replacement (replace.go). A stuck transaction (pending, unmined) is
// replaced by another request for the same transfer (Stuck names the
// stuck request and the plan every node signed for it): the coordinator
// plans it at the same nonce with both fee caps at least ReplaceBumpPct
// (geth's 10% price bump) higher (PlanReplacement); every signer checks
// the same kind, account, asset, recipient and amount, the same nonce and
// sender, the bump, the policy caps and everything else Check checks,
// the stuck request's hold on the nonce aside (CheckReplacement), and
// only then hands the nonce from the stuck request to the replacement
// (AuthorizeReplacement, Nonces.Replace). Both transactions share one
// nonce, so at most one of them is ever mined.
//
// The request flow (custody/service) reaches Chain through the chain
// boundary settle.Chains: the coordinator plans (PlanCustody), every
// signer checks the plan (CheckCustody, its plan fact for
// custody.DecideJoin) and, only once the decision is to join, holds the
// nonce (HoldCustody), signs the signer hash, the coordinator
// finalizes (FinalizeCustody) and broadcasts, and each node counts it paid
// at the configured depth on its own EVM node. A custody request that
// names a stuck one (custody.Request.Replaces) and is approved like any
// other is planned, checked and held as its replacement (settle: the
// stuck plan is the one this node saw signed); once one of the two is
// mined, each node's tracker marks the other replaced (Replaced) in its
// settlement record. The stuck request itself stays signed: no status
// "replaced" yet.
//
// Package gethtest runs a geth --dev chain for the tests (installed by
// scripts/install-geth.sh) and deploys the test token, whose Solidity
// source and compiled artifact (scripts/compile-token.sh, solc 0.8.37)
// live there too.
package evm
