package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/recovery"
)

// approvalFlags are what signing an approval or veto needs. The operator
// key is read from a file and used here, locally; it is never sent or
// printed.
type approvalFlags struct {
	party    custody.Party
	operator string
	keyFile  string
	ttl      time.Duration
}

func (a *approvalFlags) register(c *cobra.Command) {
	c.Flags().StringVar((*string)(&a.party), "party", "", "the operator's party (custodian, exchange, regulator)")
	c.Flags().StringVar(&a.operator, "operator", "", "the operator's name in the policy")
	c.Flags().StringVar(&a.keyFile, "operator-key", "", "file with the operator's ed25519 key (hex seed); never printed")
	c.Flags().DurationVar(&a.ttl, "ttl", 30*time.Minute, "validity of the signature (at most the policy's approval_max_ttl)")
}

func (a *approvalFlags) check() error {
	if !a.party.Valid() || a.operator == "" || a.keyFile == "" {
		return userErr("--party, --operator and --operator-key are required")
	}
	if a.ttl <= 0 || a.ttl > 24*time.Hour {
		return userErr("--ttl must be between 0 and 24h")
	}
	return nil
}

// endorse signs stance on the request as it is stored at the node (so
// the signature binds the node's request ID and kind) and posts it.
func endorse(ctx context.Context, w io.Writer, cl *client, id string, stance custody.Stance, a approvalFlags) error {
	if err := a.check(); err != nil {
		return err
	}
	var v service.View
	if err := cl.Do(ctx, "GET", "/v1/requests/"+id, nil, &v); err != nil {
		return err
	}
	key, err := recovery.LoadOperatorKey(a.keyFile)
	if err != nil {
		return userError{Err: err}
	}
	defer clear(key)
	now := time.Now()
	ap := custody.SignApproval(custody.Approval{RequestID: v.ID, Kind: v.Request.Kind, Stance: stance, Party: a.party,
		Operator: a.operator, Nonce: recovery.NewNonce(), IssuedAt: now, Expires: now.Add(a.ttl)}, key)
	var out service.View
	if err := cl.Do(ctx, "POST", "/v1/requests/"+v.ID+"/approvals", ap, &out); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s %s of %s %s by %s/%s: request is %s\n", stance, "recorded", v.Request.Kind, short12(v.ID), a.party, a.operator, out.Status)
	return nil
}

func short12(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func newEndorseCmd(stance custody.Stance, short, long string) *cobra.Command {
	var f clientFlags
	var a approvalFlags
	c := &cobra.Command{
		Use:   string(stance) + " REQUEST_ID --party P --operator NAME --operator-key FILE [-c CONFIG]",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(30 * time.Second)
			defer cancel()
			return endorse(ctx, cmd.OutOrStdout(), cl, args[0], stance, a)
		},
	}
	f.register(c, "operator")
	a.register(c)
	return c
}

func init() { addCommand(newApproveCmd) }

func newApproveCmd() *cobra.Command {
	return newEndorseCmd(custody.Approve, "Sign and submit an operator's approval of a request",
		`Signs an approval of the request with the operator's key (locally; the key
never leaves this process) and submits it to the node, which verifies it with
its own policy and sends it to the other nodes. The approval is bound to the
request ID, its kind, a fresh nonce and an expiry.

  triad approve 3f2a…e1 -c custodian.yaml --party custodian --operator alice --operator-key alice.key`)
}
