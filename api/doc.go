// Package api is a Triad node's HTTP+JSON API: health and readiness,
// status, Prometheus metrics, the OpenAPI document, the admin paths
// (keygen; canary keys signing drill messages, custody.DrillDigest) and,
// with a custody service, the custody endpoints: requests, signed
// approvals and vetoes, the event stream (SSE) and the audit chain. Every
// caller has its own bearer token and role; JSON bodies must say
// application/json (else 415), are size-limited and decoded strictly (no
// unknown or duplicate keys); errors are JSON {"error":{"code","message"}}
// with a stable code. The node's sentinel errors become status codes in
// one place (writeNodeError): the caller's mistakes, own-policy refusals
// included, are 4xx and never reach a partner; 502 is the cluster's.
//
//	rt, _ := node.Start(ctx, &cfg.Config, node.StartOptions{})
//	svc, _ := service.Open(&cfg.Config, service.Options{Policy: cfg.Policy, Network: rt.Node, Keys: rt.Keys})
//	_ = rt.Serve(svc)
//	svc.Start()
//	srv, _ := api.New(rt, api.Options{Custody: svc})
//	go srv.Serve(listener)
//
// openapi.yaml lists exactly the registered routes (Routes); a test checks.
package api
