package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/spf13/cobra"
)

// The exit-code contract: whatever cobra refuses before a command runs
// (an unknown command or flag, a flag that does not parse, a missing
// argument or required flag) is the caller's mistake, exit 1; a command's
// own failure is exit 2 unless it says it is the caller's.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"no-such-command"}, 1},
		{[]string{"status", "--no-such-flag"}, 1},
		{[]string{"drill", "unfreeze", "--amount", "lots"}, 1},
		{[]string{"drill", "verify"}, 1},                      // a missing argument
		{[]string{"reshare", "spec", "--key-id", "k"}, 1},     // missing required flags
		{[]string{"drill", "verify", "/nonexistent.json"}, 1}, // a userError from the command
		{[]string{"status", "--api", "127.0.0.1:1", "--token-file", "/nonexistent"}, 1},
	} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(tc.args)
		if got := exitCode(root, root.Execute()); got != tc.want {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, got, tc.want, out.String())
		}
	}
	// A command's own failure that is not the caller's is exit 2.
	root := newRootCmd()
	root.AddCommand(&cobra.Command{Use: "boom", RunE: func(*cobra.Command, []string) error { return errors.New("server down") }})
	markChecks(root)
	root.SetArgs([]string{"boom"})
	if got := exitCode(root, root.Execute()); got != 2 {
		t.Errorf("a server failure: exit %d, want 2", got)
	}
}

// Two roots do not share flag values: a flag set in one run is back at
// its default in the next.
func TestRootFreshFlags(t *testing.T) {
	a, b := newRootCmd(), newRootCmd()
	ca, _, err := a.Find([]string{"drill", "unfreeze"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Flags().Set("amount", "7"); err != nil {
		t.Fatal(err)
	}
	cb, _, _ := b.Find([]string{"drill", "unfreeze"})
	if got := cb.Flags().Lookup("amount").Value.String(); got != "1000" {
		t.Fatalf("a fresh root's --amount is %s", got)
	}
}
