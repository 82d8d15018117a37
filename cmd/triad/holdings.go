package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/custody/holdings"
)

func init() { addCommand(newHoldingsCmd) }

func newHoldingsCmd() *cobra.Command {
	c := &cobra.Command{Use: "holdings", Short: "Proofs of holdings: sign a snapshot now, show a node's own view, reconcile the three"}
	var sf, vf, rf clientFlags
	var asJSON bool
	snapshot := &cobra.Command{
		Use:   "snapshot --config FILE",
		Short: "Have the custodian's node take a holdings snapshot of its own chain view now and sign it 2-of-3",
		Long: `Have the custodian's node read every account's holdings from its own Bitcoin node, build the tree
and have the attestation key sign the snapshot; its partner recomputes the root from its own chain view
and joins only if it is the same. The node also does this at every policy.holdings_snapshot_every.`,
		Example: `  triad holdings snapshot --config configs/custodian.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var att holdings.Attestation
			if err := callHoldings(&sf, "POST", "/v1/admin/holdings/snapshot", &att); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), att)
			}
			s := att.Snapshot
			fmt.Fprintf(cmd.OutOrStdout(), "signed snapshot %s by %s: root %s over %d leaves\n", s.Time.UTC().Format(time.RFC3339), att.KeyID, s.Root, s.Leaves)
			printHeads(cmd.OutOrStdout(), s.Chains)
			return nil
		},
	}
	view := &cobra.Command{
		Use:   "view --config FILE",
		Short: "Show a node's own holdings view now (chain heads, root, every leaf)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v holdings.NodeView
			if err := callHoldings(&vf, "GET", "/v1/holdings/view", &v); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: root %s over %d leaves\n", v.Party, v.Root, len(v.Leaves))
			printHeads(cmd.OutOrStdout(), v.Chains)
			for _, l := range v.Leaves {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s\n", l.Account, l.Asset, l.Amount)
			}
			return nil
		},
	}
	reconcile := &cobra.Command{
		Use:   "reconcile --config FILE",
		Short: "Reconcile the three nodes' holdings views now (the regulator's node does it twice a day)",
		Long: `Ask the node to fetch the other nodes' own holdings views over the node network and compare them
with its own: a node whose view differs from the majority's is named, with each differing leaf, and so
is a node that did not answer. The outcome is recorded on the node's audit chain; a disagreement is an
incident. Exit 0 when the views agree, 1 when they do not.`,
		Example: `  triad holdings reconcile --config configs/regulator.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rep holdings.Report
			if err := callHoldings(&rf, "POST", "/v1/holdings/reconcile", &rep); err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				printReport(cmd.OutOrStdout(), rep)
			}
			if !rep.OK() {
				return userErr("the holdings views differ")
			}
			return nil
		},
	}
	for _, x := range []struct {
		cmd  *cobra.Command
		f    *clientFlags
		role string
	}{{snapshot, &sf, "admin"}, {view, &vf, "auditor"}, {reconcile, &rf, "auditor"}} {
		x.f.register(x.cmd, x.role)
		x.cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	}
	c.AddCommand(snapshot, view, reconcile)
	return c
}

func callHoldings(f *clientFlags, method, path string, out any) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(3 * time.Minute)
	defer cancel()
	return cl.Do(ctx, method, path, nil, out)
}

func printHeads(w io.Writer, heads []holdings.ChainHead) {
	for _, h := range heads {
		fmt.Fprintf(w, "chain %s at height %d, block %s\n", h.Chain, h.Height, h.Block)
	}
}

func printReport(w io.Writer, rep holdings.Report) {
	fmt.Fprintf(w, "holdings reconciliation at %s\n", rep.Time.UTC().Format(time.RFC3339))
	for _, v := range rep.Views {
		fmt.Fprintf(w, "%s: root %s over %d leaves\n", v.Party, v.Root, v.Count)
		if v.Audit != nil {
			fmt.Fprintf(w, "%s: audit chain head %d/%.12s\n", v.Party, v.Audit.Head.Seq, v.Audit.Head.Hash)
		}
	}
	for _, p := range rep.Missing {
		fmt.Fprintf(w, "MISSING %s: no view before the deadline\n", p)
	}
	for _, f := range rep.Failed {
		fmt.Fprintf(w, "FAILED %s: cannot read its own view: %s\n", f.Party, f.Error)
	}
	for _, d := range rep.Differences {
		fmt.Fprintf(w, "DIFFERS %s\n", d)
	}
	if rep.OK() {
		fmt.Fprintln(w, "the views agree")
	}
}
