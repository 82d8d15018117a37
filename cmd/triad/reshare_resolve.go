package main

import (
	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/recovery/drill"
)

func newReshareResolveCmd() *cobra.Command {
	var configs []string
	var keyID, action string
	var dryRun bool
	c := &cobra.Command{
		Use:   "resolve --key-id K -c CONFIG... [--dry-run] [--action commit|discard]",
		Short: "End an undecided reshare: each node with a pending share commits or discards it, as the other nodes decided",
		Long: `A reshare is undecided at a node when its commit exchange did not finish there: the
node keeps its old share in force and the new one pending (its log and 'triad status'
say so). This compares every node's public views of the key (nothing secret): a node
whose pending share is the committee the others hold in force commits it; a node whose
partner still holds the old committee with nothing pending discards it. When the
nodes disagree, or no other node answered, nothing is done unless --action says what
to do. Each resolution lands on the node's audit chain.

  triad reshare resolve --key-id vault-1 -c custodian.yaml -c exchange.yaml -c regulator.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyID == "" || len(configs) == 0 {
				return userErr("give --key-id and each node's config with -c")
			}
			if action != "" && action != "commit" && action != "discard" {
				return userErr(`--action must be "commit" or "discard"`)
			}
			cl, err := httpCluster(configs)
			if err != nil {
				return err
			}
			return drillErr(drill.ResolveReshare(cmd.OutOrStdout(), cl, keyID, action, dryRun))
		},
	}
	c.Flags().StringArrayVarP(&configs, "config", "c", nil, "a node's config file (once per node; admin token from its credentials)")
	c.Flags().StringVar(&keyID, "key-id", "", "the key whose reshare is undecided")
	c.Flags().StringVar(&action, "action", "", "commit or discard at every node with a pending share, whatever the others hold")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "show the views and the decision; change nothing")
	return c
}
