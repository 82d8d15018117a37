// Package holdingstest runs three custody nodes (servicetest) whose
// fixture key is their attestation key, each with its own fake chain view,
// for tests of proofs of holdings outside package holdings. Test-only.
//
//	c, chains := holdingstest.Cluster(t, servicetest.Options{})
//	a := holdingstest.Attester(c, chains)       // the custodian's
//	chains[custody.Exchange].Set("acct-2", 8_999) // one node's view differs
//	_, err := a.Attest(ctx)                     // the exchange declines; the regulator signs
package holdingstest
