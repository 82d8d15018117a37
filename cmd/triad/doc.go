// Command triad is the one binary of Triad: node daemon, operator CLI,
// drills, demo and benchmarks.
//
// # Files and commands
//
// Each command lives in its own file (or a few, split by subcommand, none
// above 150 lines) and only parses flags, calls one function of the
// package that owns the logic, and prints: the drills and the reshare
// resolution are recovery/drill, the API client internal/apiclient, the
// demo internal/demo, the margin simulator internal/marginsim, the HSM
// admin commands internal/hsmadmin.
//
// # Adding a command
//
// The root comes from newRootCmd (root.go), which builds the whole tree
// afresh, so every run (and every test) has fresh flag values. A file
// contributes its command as a constructor and registers it in an init
// function; nothing else changes:
//
//	func init() { addCommand(newFrobCmd) }
//
//	func newFrobCmd() *cobra.Command {
//		var f clientFlags
//		c := &cobra.Command{Use: "frob", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
//			cl, err := f.client()
//			if err != nil {
//				return err
//			}
//			return frob.Run(cmd.Context(), cmd.OutOrStdout(), cl)
//		}}
//		f.register(c, "admin")
//		return c
//	}
//
// A subcommand of an existing group is added by that group's constructor
// (drill.go lists the drills). Tests run a command with
//
//	root := newRootCmd()
//	root.SetArgs([]string{"frob", "--api", addr})
//	err := root.Execute()
//
// # Exit codes
//
// 0 success; 1 the caller's mistake: a userError (bad input, config or
// file; a refused request, an answer of 400–499; a failed drill), a flag
// that does not parse (cobra's SetFlagErrorFunc), a wrong number of
// arguments, an unknown command or a missing required flag (whatever cobra
// refuses before a command's RunE begins); 2 the server's or the
// environment's failure.
package main
