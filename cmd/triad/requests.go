package main

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
)

func init() { addCommand(newRequestsCmd) }

func newRequestsCmd() *cobra.Command {
	var f clientFlags
	var status, kind string
	var limit int
	var asJSON bool
	var wait time.Duration
	c := &cobra.Command{
		Use:   "requests [list | show ID] [-c CONFIG]",
		Short: "List custody requests, or show one, as this node sees them",
		Long: `Lists the node's requests, newest first, or shows one with its approvals,
this node's decision, the peers' reported statuses and the signature.

  triad requests -c exchange.yaml --status signing
  triad requests show 3f2a…e1 -c custodian.yaml

With --wait, ` + "`show`" + ` follows the request until it is final (done or refused), at most
that long, prints it, and fails unless it is done.

  triad requests show 3f2a…e1 -c custodian.yaml --wait 2m`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(30 * time.Second)
			defer cancel()
			switch {
			case len(args) == 2 && args[0] == "show":
				return showRequest(cmd.OutOrStdout(), cl, args[1], wait)
			case wait != 0:
				return userErr("--wait applies to `requests show ID`")
			case len(args) == 0 || len(args) == 1 && args[0] == "list":
			default:
				return userErr("want `requests`, `requests list` or `requests show ID`")
			}
			q := url.Values{}
			if status != "" {
				q.Set("status", status)
			}
			if kind != "" {
				q.Set("kind", kind)
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			var list api.RequestList
			if err := cl.Do(ctx, "GET", "/v1/requests?"+q.Encode(), nil, &list); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tAMOUNT\tAPPROVALS\tATTEMPTS\tTX (CONF)\tUPDATED\tREASON")
			for _, v := range list.Requests {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%.60s\n", short12(v.ID), v.Request.Kind, v.Status, v.Request.BaseUnits(),
					len(v.Approvals), v.Attempts, txCell(v.Settlement), v.UpdatedAt.Format(time.RFC3339), v.Reason)
			}
			return tw.Flush()
		},
	}
	f.register(c, "auditor")
	c.Flags().StringVar(&status, "status", "", "only requests with this status")
	c.Flags().StringVar(&kind, "kind", "", "only requests of this kind")
	c.Flags().IntVar(&limit, "limit", 0, "at most this many (1..500)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().DurationVar(&wait, "wait", 0, "show: follow the request until it is final, at most this long, and fail unless it is done")
	return c
}

// showRequest prints one request; with wait > 0 once it is final, and it
// is an error unless it ended done (refused: the caller's; still open at
// the deadline: the environment's).
func showRequest(w io.Writer, cl *client, id string, wait time.Duration) error {
	if wait < 0 {
		return userErr("--wait must not be negative")
	}
	if wait == 0 {
		ctx, cancel := withTimeout(30 * time.Second)
		defer cancel()
		var v service.View
		if err := cl.Do(ctx, "GET", "/v1/requests/"+url.PathEscape(id), nil, &v); err != nil {
			return err
		}
		return printJSON(w, v)
	}
	ctx, cancel := withTimeout(wait)
	defer cancel()
	v, err := cl.FollowRequest(ctx, id)
	if v.ID != "" {
		if perr := printJSON(w, v); perr != nil {
			return perr
		}
	}
	switch {
	case err != nil:
		return err
	case v.Status != custody.StatusDone:
		return userErr("request %s ended %s: %s", short12(v.ID), v.Status, v.Reason)
	}
	return nil
}

// txCell is a request's transaction as the list shows it: the txid's
// first 12 digits and its confirmations, "-" for none yet (or none at
// all: a canary drill signs no transaction).
func txCell(st *service.Settlement) string {
	switch {
	case st == nil || st.TxID == "":
		return "-"
	case st.Error != "":
		return short12(st.TxID) + " (error)"
	}
	return fmt.Sprintf("%s (%d)", short12(st.TxID), st.Confirmations)
}
