// Package structure holds checks over the source tree itself (issue 11):
// no non-test function above cyclomatic complexity 25 (counted as gocyclo
// counts), and no non-test file in cmd/triad above 150 lines, so that CLI
// files only parse flags, call one function and print. It has no code of
// its own; `go test ./internal/structure` runs the checks. And node/ (the
// MPC daemon) depends on no custody package.
package structure
