package main

import (
	"github.com/spf13/cobra"
)

// commands are the constructors of the root's subcommands: each command's
// file adds its own in an init function (addCommand), and every
// newRootCmd builds them afresh.
var commands []func() *cobra.Command

func addCommand(newCmd func() *cobra.Command) { commands = append(commands, newCmd) }

// acceptedKey is the root's annotation saying cobra accepted the command
// line (flags parsed, arguments and required flags checked): a command's
// RunE began.
const acceptedKey = "triad/command-line-accepted"

// newRootCmd builds the whole command tree with fresh flag values.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "triad",
		Short:         "Multi-party emergency key custody with 2-of-3 threshold signing",
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{},
	}
	// A flag that does not parse is the caller's mistake (exit 1).
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return userError{Err: err} })
	for _, newCmd := range commands {
		root.AddCommand(newCmd())
	}
	markChecks(root)
	return root
}

// markChecks makes every command's argument check return a userError,
// and every RunE note on the root that it began (acceptedKey).
func markChecks(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			cmd.Root().Annotations[acceptedKey] = "yes"
			return run(cmd, args)
		}
	}
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return userError{Err: err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markChecks(sub)
	}
}
