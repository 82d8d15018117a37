package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/api"
)

func init() { addCommand(newStatusCmd) }

func newStatusCmd() *cobra.Command {
	var f clientFlags
	var asJSON bool
	var wait time.Duration
	c := &cobra.Command{
		Use:   "status --config FILE [--wait DURATION]",
		Short: "Show a running node's readiness, peers, keys and pre-params pool",
		Long: `Shows a running node's readiness, HSM, peers, keys, pre-params pool and incidents.
It exits 2 when the node is not ready (with --wait: or not yet settled, as below).

With --wait it first waits, at most that long, until the node answers, is ready, is
connected to every peer and, while it is making pre-params, has one ready for a keygen
(a node just started with ` + "`triad node run`" + ` may be none of these).

  triad status -c configs/custodian.yaml --wait 5m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if wait < 0 {
				return userErr("--wait must not be negative")
			}
			st, err := fetchStatus(f, wait)
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), st); err != nil {
					return err
				}
			} else {
				printStatus(cmd.OutOrStdout(), st)
			}
			switch {
			case !st.Ready:
				return fmt.Errorf("node %s is not ready", st.Party)
			case wait > 0 && !settled(st):
				return fmt.Errorf("node %s is not connected to every peer, or has no pre-params ready yet, after %v", st.Party, wait)
			}
			return nil
		},
	}
	f.register(c, "admin")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().DurationVar(&wait, "wait", 0, "wait at most this long for the node to answer, be ready, be connected to every peer and have pre-params ready (if it makes them)")
	return c
}

// fetchStatus asks the node for its status once, or with wait > 0 until it
// answers ready with every peer connected (polling; one deadline). When
// the deadline passes it returns the last status seen, or the last error.
func fetchStatus(f clientFlags, wait time.Duration) (api.Status, error) {
	ctx, cancel := withTimeout(30*time.Second + wait)
	defer cancel()
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := statusOnce(ctx, f)
		if wait == 0 || err == nil && settled(st) {
			return st, err
		}
		select {
		case <-deadline:
			if err != nil {
				return st, fmt.Errorf("after waiting %v: %w", wait, err)
			}
			return st, nil
		case <-tick.C: // polling a node that is still starting, not synchronisation within Triad
		}
	}
}

func statusOnce(ctx context.Context, f clientFlags) (api.Status, error) {
	var st api.Status
	cl, err := f.client()
	if err != nil {
		return st, err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = cl.Do(rctx, "GET", "/v1/status", nil, &st)
	return st, err
}

// settled: ready, connected to every peer it pins, and not waiting for
// the first pre-params it is generating (a keygen needs one; a node that
// generates none is not waited for).
func settled(st api.Status) bool {
	if !st.Ready || len(st.Peers) == 0 || st.PreParams.Ready == 0 && st.PreParams.Running > 0 {
		return false
	}
	for _, p := range st.Peers {
		if !p.Connected {
			return false
		}
	}
	return true
}
