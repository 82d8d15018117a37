//go:build !unix

package node

// openFileLimit is unknown here: the resource manager's own limits apply.
func openFileLimit() int { return 0 }
