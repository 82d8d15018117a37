package service

import (
	"context"

	"github.com/triad-custody/triad/custody"
)

// The unfreeze drill runs a full emergency unfreeze on a canary key. With
// a Bitcoin node configured, the request names coins of the canary
// account (filled in when it is created) and settles as a regtest
// transaction like any other. Without one it names no coins, and signs
// the interim digest of the request (DefaultDigester): a canary digest,
// which is not a Bitcoin sighash and so can move nothing. An unfreeze of
// an EVM asset carries the coordinator's EVM plan and settles as an EVM
// transaction like any other (settle.Chains).

// isCanaryUnfreeze: an emergency unfreeze on a key this node's policy
// calls canary, naming no coins and no EVM plan.
func isCanaryUnfreeze(p custody.Policy, req custody.Request) bool {
	return req.Kind == custody.KindUnfreeze && len(req.Inputs) == 0 && req.EVM == nil && custody.CheckRawDigest(p, req.KeyID) == nil
}

// CanaryDigester signs a coinless canary unfreeze as its interim digest
// and hands every other request to next.
func CanaryDigester(p custody.Policy, next Digester) Digester {
	return func(req custody.Request) ([][32]byte, error) {
		if isCanaryUnfreeze(p, req) {
			return DefaultDigester(req)
		}
		return next(req)
	}
}

// CanaryFinalizer leaves a coinless canary unfreeze done once signed (the
// signature is the drill's product) and hands every other request to
// next (which may be nil).
func CanaryFinalizer(p custody.Policy, next Finalizer) Finalizer {
	return func(ctx context.Context, req custody.Request, res Result) error {
		if isCanaryUnfreeze(p, req) || next == nil {
			return nil
		}
		return next(ctx, req, res)
	}
}
