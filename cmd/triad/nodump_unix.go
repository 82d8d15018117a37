//go:build unix

package main

import "syscall"

// disableCoreDumps keeps a crashing node from writing its memory, shares
// included, to a core file.
func disableCoreDumps() error {
	return syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: 0, Max: 0})
}
