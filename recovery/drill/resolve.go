package drill

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/recovery"
)

// ResolveReshare ends an undecided reshare of keyID: it reads every
// reachable node's public share views, prints them, and has each node with
// a pending share commit or discard it as recovery.Resolution decides
// (or as action says, whatever the others hold); dryRun changes nothing.
// It returns ErrFailed when the reshare is not resolved everywhere.
func ResolveReshare(out io.Writer, c Cluster, keyID, action string, dryRun bool) error {
	views := map[string]recovery.ShareViews{}
	for _, p := range c.Parties() {
		err := c.Reachable(p)
		var uc api.UnsealCheckResponse
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			uc, err = c.UnsealCheck(ctx, p)
			cancel()
		}
		if err != nil {
			fmt.Fprintf(out, "%-10s did not answer: %v\n", p, err)
			continue
		}
		for _, k := range uc.Keys {
			if k.KeyID == keyID {
				views[p] = recovery.ShareViews{InForce: k.View, Pending: k.PendingView}
			}
		}
		printViews(out, p, keyID, views)
	}
	actions, problems := recovery.Resolution(views)
	if action != "" {
		actions, problems = map[string]string{}, nil
		for p, v := range views {
			if v.Pending != "" {
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
	for _, p := range sortedParties(actions) {
		if dryRun {
			fmt.Fprintf(out, "%s would %s its pending share\n", p, actions[p])
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := c.Resolve(ctx, p, api.ResolveRequest{KeyID: keyID, PendingView: views[p].Pending, Action: actions[p]})
		cancel()
		if err != nil {
			fmt.Fprintf(out, "%s: %s failed: %v\n", p, actions[p], err)
			failed = true
			continue
		}
		fmt.Fprintf(out, "%s: pending share %s\n", p, map[string]string{recovery.Commit: "committed: the new share is in force", recovery.Discard: "discarded: the old share stays in force"}[actions[p]])
	}
	if failed {
		return markedError{fmt.Errorf("the reshare of %s is not resolved everywhere", keyID), ErrFailed}
	}
	return nil
}

func printViews(out io.Writer, p, keyID string, views map[string]recovery.ShareViews) {
	v, ok := views[p]
	switch {
	case !ok:
		fmt.Fprintf(out, "%-10s holds no share of %s\n", p, keyID)
	case v.Pending == "":
		fmt.Fprintf(out, "%-10s in force %.16s…\n", p, v.InForce)
	default:
		fmt.Fprintf(out, "%-10s in force %.16s…  PENDING %.16s… (undecided)\n", p, v.InForce, v.Pending)
	}
}

// sortedParties is the keys of m in order.
func sortedParties[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
