package main

import (
	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/custody"
)

func init() { addCommand(newVetoCmd) }

func newVetoCmd() *cobra.Command {
	return newEndorseCmd(custody.Veto, "Sign and submit an operator's veto of a request",
		`Signs a veto of the request with the operator's key (locally) and submits it.
A verified veto from any party stops the request at every node; it is how an
emergency unfreeze is stopped during its notice period.

  triad veto 3f2a…e1 -c regulator.yaml --party regulator --operator carol --operator-key carol.key`)
}
