// Package api is a Triad node's HTTP+JSON API: health and readiness,
// status, and the admin paths (keygen, raw-digest signing for canary keys).
// Every caller has its own bearer token and role; bodies are size-limited
// and decoded strictly; errors are JSON with a stable code.
//
//	srv, _ := api.New(runtime, api.Options{})
//	go srv.Serve(listener)
package api
