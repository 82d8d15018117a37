// Package apiclient is the client of a Triad node's HTTP API that the CLI
// and the drills use: it finds the node's address and token from its
// config (or takes them given), speaks https when the node's config has
// api.tls, sends JSON requests, reads newline-delimited JSON answers
// (Stream) and follows the server-sent event stream (Subscribe).
//
//	cl, err := apiclient.New(apiclient.Options{Config: "custodian.yaml", Role: "admin"})
//	var st api.StatusResponse
//	err = cl.Do(ctx, "GET", "/v1/status", nil, &st)
//	sub, err := cl.Subscribe(ctx, "?request="+id) // live once it returns
//	for { e, err := sub.Next(); ... }
//
// Errors: an answer of 400–499, and a setting the caller must fix (a
// config that does not load, a missing token, a TLS file that does not
// read), come wrapped in UserError: the CLI's exit 1. Anything else is
// the server's or the environment's failure. Tokens are sent, never
// logged or printed.
package apiclient
