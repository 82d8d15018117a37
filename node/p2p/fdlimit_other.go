//go:build !unix

package p2p

// openFileLimit is unknown here: the resource manager's own limits apply.
func openFileLimit() int { return 0 }
