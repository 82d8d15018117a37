package main

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/node/api"
)

// shareViews is one node's public views of a key's shares: the one in
// force and, after an undecided reshare, the pending one.
type shareViews struct{ inForce, pending string }

// resolution decides what each node with a pending share of a key must do,
// from the views of every node that answered. The reshare committed at a
// node that holds the pending committee in force; it did not at a node
// with nothing pending and other shares (the old ones) in force. A node follows
// what the others decided; when they disagree, or none decided, it is
// the operators' call (--action), and resolution says why.
func resolution(views map[string]shareViews) (map[string]string, []string) {
	actions := map[string]string{}
	var problems []string
	parties := make([]string, 0, len(views))
	for p := range views {
		parties = append(parties, p)
	}
	sort.Strings(parties)
	for _, p := range parties {
		v := views[p]
		if v.pending == "" {
			continue
		}
		var committed, kept []string
		for _, o := range parties {
			ov := views[o]
			switch {
			case o == p:
			case ov.inForce == v.pending:
				committed = append(committed, o)
			case ov.pending == "":
				kept = append(kept, o) // decided, and not for these shares
			}
		}
		switch {
		case len(committed) > 0 && len(kept) == 0:
			actions[p] = "commit"
		case len(kept) > 0 && len(committed) == 0:
			actions[p] = "discard"
		case len(committed) > 0:
			problems = append(problems, fmt.Sprintf("%s: %v hold the new shares in force but %v the old ones: the nodes disagree; decide with --action", p, committed, kept))
		default:
			problems = append(problems, fmt.Sprintf("%s: no other node that answered has decided; start the others, or decide with --action", p))
		}
	}
	return actions, problems
}

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
			return resolveReshare(cmd.OutOrStdout(), configs, keyID, action, dryRun)
		},
	}
	c.Flags().StringArrayVarP(&configs, "config", "c", nil, "a node's config file (once per node; admin token from its credentials)")
	c.Flags().StringVar(&keyID, "key-id", "", "the key whose reshare is undecided")
	c.Flags().StringVar(&action, "action", "", "commit or discard at every node with a pending share, whatever the others hold")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "show the views and the decision; change nothing")
	return c
}

func resolveReshare(out io.Writer, configs []string, keyID, action string, dryRun bool) error {
	views := map[string]shareViews{}
	clients := map[string]*client{}
	nodes, err := adminNodes(configs)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		cfg, cl, err := n.cfg, n.cl, n.err
		if err == nil {
			ctx, cancel := withTimeout(30 * time.Second)
			var uc api.UnsealCheckResponse
			err = cl.do(ctx, "GET", "/v1/recovery/unseal-check", nil, &uc)
			cancel()
			for _, k := range uc.Keys {
				if k.KeyID == keyID {
					views[cfg.Party] = shareViews{inForce: k.View, pending: k.PendingView}
				}
			}
		}
		if err != nil {
			fmt.Fprintf(out, "%-10s did not answer: %v\n", cfg.Party, err)
			continue
		}
		clients[cfg.Party] = cl
		v, ok := views[cfg.Party]
		switch {
		case !ok:
			fmt.Fprintf(out, "%-10s holds no share of %s\n", cfg.Party, keyID)
		case v.pending == "":
			fmt.Fprintf(out, "%-10s in force %.16s…\n", cfg.Party, v.inForce)
		default:
			fmt.Fprintf(out, "%-10s in force %.16s…  PENDING %.16s… (undecided)\n", cfg.Party, v.inForce, v.pending)
		}
	}
	actions, problems := resolution(views)
	if action != "" {
		actions, problems = map[string]string{}, nil
		for p, v := range views {
			if v.pending != "" {
				actions[p] = action
			}
		}
	}
	for _, pr := range problems {
		fmt.Fprintln(out, "cannot decide: "+pr)
	}
	if len(actions) == 0 && len(problems) == 0 {
		fmt.Fprintf(out, "no node that answered has an undecided reshare of %s\n", keyID)
		return nil
	}
	failed := len(problems) > 0
	parties := make([]string, 0, len(actions))
	for p := range actions {
		parties = append(parties, p)
	}
	sort.Strings(parties)
	for _, p := range parties {
		if dryRun {
			fmt.Fprintf(out, "%s would %s its pending share\n", p, actions[p])
			continue
		}
		ctx, cancel := withTimeout(30 * time.Second)
		err := clients[p].do(ctx, "POST", "/v1/recovery/reshare/resolve",
			api.ResolveRequest{KeyID: keyID, PendingView: views[p].pending, Action: actions[p]}, nil)
		cancel()
		if err != nil {
			fmt.Fprintf(out, "%s: %s failed: %v\n", p, actions[p], err)
			failed = true
			continue
		}
		fmt.Fprintf(out, "%s: pending share %s\n", p, map[string]string{"commit": "committed: the new share is in force", "discard": "discarded: the old share stays in force"}[actions[p]])
	}
	if failed {
		return userErr("the reshare of %s is not resolved everywhere", keyID)
	}
	return nil
}
