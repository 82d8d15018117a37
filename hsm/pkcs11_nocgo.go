//go:build !cgo

package hsm

import (
	"context"
	"log/slog"
)

// PKCS11 is unavailable in builds without cgo.
type PKCS11 struct{ Sealer }

// NewPKCS11 fails: the pkcs11 backend needs cgo.
func NewPKCS11(context.Context, PKCS11Config, *slog.Logger) (*PKCS11, error) {
	return nil, cfgErr("hsm.backend", "pkcs11 needs a build with cgo (CGO_ENABLED=1)")
}

// InitPKCS11 fails: the pkcs11 backend needs cgo.
func InitPKCS11(context.Context, PKCS11Config) (bool, error) {
	return false, cfgErr("hsm.backend", "pkcs11 needs a build with cgo (CGO_ENABLED=1)")
}
