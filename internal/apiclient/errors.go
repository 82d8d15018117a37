package apiclient

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
)

// UserError marks a failure that is the caller's to fix: a 4xx answer, a
// bad option or file.
type UserError struct{ Err error }

func (e UserError) Error() string { return e.Err.Error() }
func (e UserError) Unwrap() error { return e.Err }

func userErr(format string, a ...any) error { return UserError{fmt.Errorf(format, a...)} }

// Error is a JSON error answer from the node.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message) }

// callError explains a failed call; TLS failures get a hint, and the node
// refusing this client's certificate is the caller's mistake.
func callError(err error) error {
	err = fmt.Errorf("calling the node: %w", err)
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		op       *net.OpError
	)
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (the node's certificate is not trusted: check --tls-ca)", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w (give --api with an address the node's certificate lists)", err)
	case errors.As(err, &op) && op.Op == "remote error" && strings.Contains(op.Err.Error(), "certificate"):
		return UserError{fmt.Errorf("%w (the node wants a client certificate its CA signed: check --tls-cert and --tls-key, or TRIAD_TLS_CERT and TRIAD_TLS_KEY)", err)}
	}
	return err
}
