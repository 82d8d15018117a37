// Package hsmtest is the conformance suite every hsm.Sealer backend passes,
// in the manner of hashicorp/vault's sdk/physical/testing.go:
//
//	func TestLocalConformance(t *testing.T) {
//		hsmtest.Run(t, func(t *testing.T) hsm.Sealer {
//			s, err := hsm.NewLocal(pass, cheapArgon2)
//			...
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// newSealer is called once per subtest and must return a ready Sealer;
// subtests that need two sealers (same key) call it twice and expect both to
// open each other's blobs. Run it with -race: one subtest hammers one
// Sealer from many goroutines.
package hsmtest
