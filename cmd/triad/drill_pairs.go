package main

import (
	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/recovery"
	"github.com/triad-custody/triad/recovery/drill"
)

func newDrillNodeLossCmd() *cobra.Command {
	var lost string
	c := drillCmd("node-loss --party P --key-id K -c CONFIG...", "The two parties other than P sign a canary",
		func(_ *cobra.Command, cl drill.Cluster, cfg drill.Config) error {
			_, err := drill.NodeLoss(cl, cfg, lost)
			return err
		})
	c.Flags().StringVar(&lost, "party", "", "the party whose node is treated as lost")
	return c
}

func newDrillAllPairsCmd() *cobra.Command {
	return reportDrillCmd("all-pairs --key-id K -c CONFIG...", "Each of the three pairs signs a canary", drill.AllPairs)
}

func newDrillUnsealCmd() *cobra.Command {
	return reportDrillCmd("unseal -c CONFIG...", "Each node proves it can unseal its shards (public data only)", drill.Unseal)
}

// reportDrillCmd is a drill that needs nothing but the common flags.
func reportDrillCmd(use, short string, run func(drill.Cluster, drill.Config) (*recovery.Report, error)) *cobra.Command {
	return drillCmd(use, short, func(_ *cobra.Command, cl drill.Cluster, cfg drill.Config) error {
		_, err := run(cl, cfg)
		return err
	})
}

func newDrillReshareCmd() *cobra.Command {
	var spec string
	var approvals []string
	c := drillCmd("reshare --key-id K --spec FILE --approval FILE --approval FILE -c CONFIG...",
		"A full reshare of a canary key to a fresh node, then every pair signs",
		func(_ *cobra.Command, cl drill.Cluster, cfg drill.Config) error {
			o, err := loadOrder(spec, approvals)
			if err != nil {
				return err
			}
			_, err = drill.Reshare(cl, cfg, o)
			return err
		})
	c.Long = `Start the fresh node first ('triad init' gives it a new identity), write and approve a
spec for the canary key ('triad reshare spec', 'triad reshare approve'), then run this.`
	c.Flags().StringVar(&spec, "spec", "", "approved reshare spec")
	c.Flags().StringArrayVar(&approvals, "approval", nil, "approval file (two parties)")
	return c
}
