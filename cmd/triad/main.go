package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/internal/apiclient"
)

// userError marks a failure that is the caller's to fix (exit 1).
type userError = apiclient.UserError

func userErr(format string, a ...any) error { return userError{Err: fmt.Errorf(format, a...)} }

func main() {
	root := newRootCmd()
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "triad:", err)
	}
	os.Exit(exitCode(root, err))
}

// exitCode maps the outcome of running root to the exit code: 0 success,
// 1 the caller's mistake (a userError, or a command line cobra refused
// before any command ran: an unknown command, a missing required flag),
// 2 anything else.
func exitCode(root *cobra.Command, err error) int {
	var ue userError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue) || root.Annotations[acceptedKey] == "":
		return 1
	}
	return 2
}
