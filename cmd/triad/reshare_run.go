package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/recovery/drill"
)

func newReshareRunCmd() *cobra.Command {
	var f clientFlags
	var runSpec string
	var approvals []string
	runCmd := &cobra.Command{
		Use:   "run --config FILE --spec FILE --approval FILE --approval FILE",
		Short: "Run an approved reshare from a surviving node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := loadOrder(runSpec, approvals)
			if err != nil {
				return err
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			// The one node the client reaches, under a name of its own.
			res, err := drill.RunReshare(cmd.OutOrStdout(), "", drill.NewHTTP([]drill.HTTPNode{{Party: "node", Admin: cl}}), "node", o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reshare %s complete in %s: key %s, public key %s unchanged\n",
				res.ReshareID, res.Duration.Round(time.Millisecond), res.KeyID, res.PublicKey)
			return nil
		},
	}
	f.register(runCmd, "admin")
	runCmd.Flags().StringVar(&runSpec, "spec", "", "reshare spec file")
	runCmd.Flags().StringArrayVar(&approvals, "approval", nil, "signed approval file (two parties)")
	runCmd.MarkFlagRequired("spec")

	return runCmd
}

func loadOrder(specFile string, approvals []string) (reshare.Order, error) {
	var o reshare.Order
	if err := readJSONFile(specFile, &o.Spec); err != nil {
		return o, err
	}
	if len(approvals) < 2 {
		return o, userErr("a reshare needs approvals from two parties' operators (--approval twice)")
	}
	var err error
	o.Approvals, err = readApprovals(approvals)
	return o, err
}

// readApprovals reads operators' signed approval files.
func readApprovals(files []string) ([]reshare.Approval, error) {
	var out []reshare.Approval
	for _, a := range files {
		var ap reshare.Approval
		if err := readJSONFile(a, &ap); err != nil {
			return nil, err
		}
		out = append(out, ap)
	}
	return out, nil
}
