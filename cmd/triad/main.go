// Command triad is the one binary of Triad: node daemon, operator CLI,
// demo and benchmarks. Each subcommand lives in its own file and adds
// itself to the root in an init function.
//
// Exit codes: 0 success, 1 the caller's mistake (bad flags, config,
// input; a refused request), 2 the server's or the environment's failure.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

var root = &cobra.Command{
	Use:           "triad",
	Short:         "Multi-party emergency key custody with 2-of-3 threshold signing",
	SilenceUsage:  true,
	SilenceErrors: true,
}

// userError marks a failure that is the caller's to fix (exit 1).
type userError struct{ error }

func (e userError) Unwrap() error { return e.error }

func userErr(format string, a ...any) error { return userError{fmt.Errorf(format, a...)} }

func main() {
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "triad:", err)
		var ue userError
		if errors.As(err, &ue) || isFlagError(err) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

func isFlagError(err error) bool {
	// cobra reports unknown commands and flags as plain errors before any
	// RunE runs; those are the caller's mistakes.
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "required flag", "invalid argument", "accepts ", "flag needs"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
