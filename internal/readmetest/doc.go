// Package readmetest runs the repository's README.md as a new operator
// would, and checks configs/sample.yaml against the config loader (issue 14).
//
// Its test (readme_test.go) extracts the README's fenced sh blocks in order
// (Blocks) and runs them with bash, as one shell session, in a temp dir
// where ./cmd/triad, configs/ and ./triad resolve: the repository's files
// are linked in, and configs/ is a copy whose loopback ports are replaced by
// free ones. Before it starts, the nodes' pre-params pools (the walkthrough's
// and the demo's) are seeded from tss/fixtures and generation is turned off
// (TRIAD_PREPARAMS_GENERATE=false), so no test waits for safe primes. The
// set-up block's scripts/test.sh is skipped (it is the suite that runs this
// test). A block marked illustrative, by the line
//
//	<!-- readme:illustrative -->
//
// before its fence, is not run: each of its `triad …` commands is parsed by
// the built binary with --help, so a command or flag that does not exist
// fails the test. Every process the walkthrough starts is in the shell's
// process group, killed when the test ends; the whole run has one deadline.
// It runs on Linux (where the demo's cache dir follows XDG_CACHE_HOME) and
// not under -short.
//
// sample_test.go loads configs/sample.yaml and compares the keys it
// documents (set, or commented out as `# key: value` and `or key: value`)
// with daemon.ConfigSchemaKeys, the keys the loader accepts: each side must
// hold exactly the other's.
package readmetest
