// Package api is a Triad node's HTTP+JSON API: health and readiness,
// status, Prometheus metrics, the OpenAPI document, the admin paths
// (keygen, raw-digest signing for canary keys) and, with a custody
// service, the custody endpoints: requests, signed approvals and vetoes,
// the event stream (SSE) and the audit chain. Every caller has its own
// bearer token and role; bodies are size-limited and decoded strictly;
// errors are JSON {"error":{"code","message"}} with a stable code.
//
//	svc, _ := service.Open(cfg, service.Options{})
//	rt, _ := node.Start(ctx, cfg, node.StartOptions{Authorizer: svc})
//	svc.Attach(rt)
//	srv, _ := api.New(rt, api.Options{Custody: svc})
//	go srv.Serve(listener)
//
// openapi.yaml lists exactly the registered routes (Routes); a test checks.
package api
