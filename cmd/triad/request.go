package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
)

func init() { addCommand(newRequestCmd) }

func newRequestCmd() *cobra.Command {
	var f clientFlags
	var a approvalFlags
	var file string
	var r custody.Request
	var kind string
	var quiet bool
	c := &cobra.Command{
		Use:   "request --kind KIND --idempotency-key KEY [fields…] [-c CONFIG]",
		Short: "Ask this party's node for a custody action",
		Long: `Submits a typed request to the node: it validates and stores it, proposes it
to the other nodes, and every node evaluates it with its own policy. The node
fills in the requester (its party and your credential) and created_at. The
same --idempotency-key again returns the stored request.

An emergency_unfreeze must be opened by a signed approval of the requesting
party's operator: give --party, --operator and --operator-key and it is signed
and submitted with the request. Its notice period then runs on every node's
own clock.

  triad request -c exchange.yaml --kind collateral_release --idempotency-key rel-7 \
      --account acct-1 --key-id vault-1 --child-path m/0/1 --asset BTC \
      --destination bc1qowner… --amount 150000 --fee-rate 5
  triad request -c custodian.yaml --kind emergency_unfreeze --idempotency-key uf-1 \
      --account acct-1 --key-id vault-1 --child-path m/0/1 --asset BTC --destination bc1qowner… \
      --amount 150000 --fee-rate 5 --reason "exchange unreachable" \
      --party custodian --operator alice --operator-key alice.key
  triad request -c exchange.yaml --file request.json

An asset of an EVM chain (policy.assets chain evm) takes no --fee-rate: its fees
are the EVM plan's, which every node checks against its own evm.chains caps.

  triad request -c exchange.yaml --kind collateral_release --idempotency-key rel-8 \
      --account acct-evm --key-id vault-1 --child-path m/0/1 --asset TUSD \
      --destination 0xOwner… --amount 1250500000

With --quiet it prints only the request's ID, for scripts:

  id=$(triad request -c exchange.yaml --quiet --kind canary --idempotency-key d-1 \
      --key-id canary-1 --digest 9f86d0…08 --reason drill)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkRequestFlags(cmd, file); err != nil {
				return err
			}
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return userErr("reading --file: %v", err)
				}
				if r, err = custody.DecodeRequestDraft(b); err != nil {
					return userError{Err: err}
				}
			} else {
				r.Kind = custody.Kind(kind)
			}
			unfreeze := r.Kind == custody.KindUnfreeze
			if unfreeze {
				if err := a.check(); err != nil {
					return userErr("an emergency_unfreeze is opened by its operator's signed approval: %v", err)
				}
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(30 * time.Second)
			defer cancel()
			var v service.View
			if err := cl.Do(ctx, "POST", "/v1/requests", r, &v); err != nil {
				return err
			}
			if unfreeze {
				if err := endorse(ctx, cmd.ErrOrStderr(), cl, v.ID, custody.Approve, a); err != nil {
					return fmt.Errorf("request %s stored, but its opening approval failed: %w", v.ID, err)
				}
				if err := cl.Do(ctx, "GET", "/v1/requests/"+v.ID, nil, &v); err != nil {
					return err
				}
			}
			if quiet {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), v.ID)
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
	f.register(c, "operator")
	a.register(c)
	fl := c.Flags()
	fl.StringVar(&file, "file", "", "request JSON (instead of the field flags)")
	fl.BoolVarP(&quiet, "quiet", "q", false, "print only the request's ID")
	fl.StringVar(&kind, "kind", "", "collateral_release | liquidation | emergency_unfreeze | canary")
	fl.StringVar(&r.IdempotencyKey, "idempotency-key", "", "your key for this request: resubmitting it returns the same request")
	fl.StringVar(&r.Account, "account", "", "custody account")
	fl.StringVar(&r.KeyID, "key-id", "", "threshold key")
	fl.StringVar(&r.ChildPath, "child-path", "", "non-hardened BIP32 path of the account's key, e.g. m/0/1")
	fl.StringVar(&r.Asset, "asset", "", "asset symbol, e.g. BTC")
	fl.StringVar(&r.Destination, "destination", "", "destination address")
	fl.Uint64Var(&r.Amount, "amount", 0, "amount in base units (satoshis)")
	fl.StringVar(&r.Units, "units", "", "an EVM asset's amount in base units, exactly, as a decimal (instead of --amount)")
	fl.StringVar(&r.Replaces, "replaces", "", "ID of the request whose stuck EVM transaction this one replaces")
	fl.Uint64Var(&r.FeeRate, "fee-rate", 0, "fee rate in sat/vB (Bitcoin assets; an EVM asset takes none)")
	fl.StringVar(&r.Reason, "reason", "", "reason (required for emergency_unfreeze)")
	fl.StringVar(&r.Digest, "digest", "", "canary only: the 32-byte digest to sign, hex")
	return c
}

// checkRequestFlags refuses field flags that would not reach the request
// as given: --units with --amount, any field flag with --file (the file
// is the whole request).
func checkRequestFlags(cmd *cobra.Command, file string) error {
	fl := cmd.Flags()
	if fl.Changed("units") && fl.Changed("amount") {
		return userErr("--units and --amount: give the amount once (--units: an EVM asset's exact base units)")
	}
	for _, n := range []string{"kind", "idempotency-key", "account", "key-id", "child-path", "asset", "destination",
		"amount", "units", "replaces", "fee-rate", "reason", "digest"} {
		if file != "" && fl.Changed(n) {
			return userErr("--%s with --file: the file is the whole request; put %s in it", n, strings.ReplaceAll(n, "-", "_"))
		}
	}
	return nil
}
