package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/internal/apiclient"
	"github.com/triad-custody/triad/recovery/drill"
)

// Drill exit codes: 0 the drill passed, 1 it failed (or a usage
// mistake), 2 it could not run.

func init() { addCommand(newDrillCmd) }

func newDrillCmd() *cobra.Command {
	dc := &cobra.Command{
		Use:   "drill",
		Short: "Rehearse recovery against a live cluster with canary keys",
		Long: `Drills are safe against a live cluster: canary keys sign drill messages (SHA-256 of a
fixed tag and a nonce, recomputed by every signer; every node's policy refuses the raw
path for custody keys and for any other digest), never a production transaction. Each prints its steps, writes a report (JSON and Markdown) signed by the
participating nodes, and exits 0 when it passed, 1 when it failed, 2 when it could not run.

Example:
  triad drill all-pairs --key-id canary-1 -c configs/custodian.yaml -c configs/exchange.yaml -c configs/regulator.yaml
  triad drill verify drill-all-pairs-20260101T000000Z-abcdef.json -c configs/regulator.yaml`,
	}
	dc.AddCommand(newDrillNodeLossCmd(), newDrillAllPairsCmd(), newDrillUnsealCmd(), newDrillReshareCmd(),
		newDrillUnfreezeCmd(), newDrillVerifyCmd())
	return dc
}

// drillFlags are shared by the drills that talk to the cluster.
type drillFlags struct {
	configs   []string
	keyID     string
	reportDir string
}

func (f *drillFlags) register(c *cobra.Command) {
	c.Flags().StringArrayVarP(&f.configs, "config", "c", nil, "a node's config file (once per node; admin token from its credentials)")
	c.Flags().StringVar(&f.keyID, "key-id", "", "canary key to drill with")
	c.Flags().StringVar(&f.reportDir, "report-dir", ".", "where to write the drill report (JSON and Markdown)")
}

// drillCmd is a drill subcommand that runs one drill function against
// the cluster the --config files name.
func drillCmd(use, short string, run func(cmd *cobra.Command, c drill.Cluster, cfg drill.Config) error) *cobra.Command {
	var f drillFlags
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := httpCluster(f.configs)
			if err != nil {
				return err
			}
			cfg := drill.Config{KeyID: f.keyID, ReportDir: f.reportDir, Out: cmd.OutOrStdout()}
			return drillErr(run(cmd, cl, cfg))
		},
	}
	f.register(c)
	return c
}

// httpCluster is the cluster of the nodes the configs name, reached
// through their APIs (admin role; approvals with the operator role).
func httpCluster(configs []string) (*drill.HTTP, error) {
	nodes, err := apiclient.Nodes(configs, "admin")
	if err != nil {
		return nil, err
	}
	var hn []drill.HTTPNode
	for _, n := range nodes {
		path := n.Path
		hn = append(hn, drill.HTTPNode{Party: n.Cfg.Party, Policy: n.Cfg.Policy, Admin: n.Client, Err: n.Err,
			Operator: func() (*apiclient.Client, error) {
				return apiclient.New(apiclient.Options{Config: path, Role: "operator"})
			}})
	}
	return drill.NewHTTP(hn), nil
}

// drillErr maps a drill's outcome to the CLI's: a failed drill and a
// usage mistake are exit 1.
func drillErr(err error) error {
	if errors.Is(err, drill.ErrFailed) || errors.Is(err, drill.ErrUsage) {
		return userError{Err: err}
	}
	return err
}
