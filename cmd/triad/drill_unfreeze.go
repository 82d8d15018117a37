package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/recovery"
	"github.com/triad-custody/triad/recovery/drill"
)

func newDrillUnfreezeCmd() *cobra.Command {
	var o drill.UnfreezeOptions
	var operators []string
	c := drillCmd("unfreeze --key-id K --operator-key PARTY:NAME:FILE --operator-key PARTY:NAME:FILE -c CONFIG...",
		"A full emergency unfreeze on a canary key with the policy's shortened canary notice period",
		func(_ *cobra.Command, cl drill.Cluster, cfg drill.Config) error {
			ops, err := parseOperatorArgs(operators)
			if err != nil {
				return err
			}
			o.Opener, o.Approver = ops[0], ops[1]
			_, err = drill.Unfreeze(cl, cfg, o)
			return err
		})
	c.Long = `Runs an emergency unfreeze of a canary account through the custody API: the first
--operator-key's party opens it (its operator signs the opening approval), the
second party's operator approves it at its own node, every node waits out the
notice period on its own clocks, and the pair signs. Production is untouched: the
key must be a canary key in every node's policy, and only canary keys get the
shortened canary_notice_period (which every node's policy must set; custody keys
always wait notice_period). With a Bitcoin node configured the unfreeze spends the
canary account's coins on regtest; for an asset of an EVM chain (--asset, in
policy.assets and evm.chains) it is an EVM transaction of the canary account,
whose fees come from every node's evm.chains caps (no --fee-rate); otherwise it
signs a canary digest.

Operator key files are read here and never sent or printed. The nodes need an
operator credential (role operator, token_file) in their configs.

  triad drill unfreeze --key-id canary-1 --account canary-acct \
      --operator-key custodian:alice:alice.key --operator-key exchange:bob:bob.key \
      -c custodian.yaml -c exchange.yaml -c regulator.yaml`
	fl := c.Flags()
	fl.StringVar(&o.Account, "account", "", "canary account to unfreeze (default: the first account on --key-id)")
	fl.StringVar(&o.Asset, "asset", "BTC", "asset symbol")
	fl.Uint64Var(&o.Amount, "amount", 1000, "amount in base units")
	fl.Uint64Var(&o.FeeRate, "fee-rate", 0, "fee rate in sat/vB of a Bitcoin asset (default 1); leave out for an EVM asset")
	fl.StringArrayVar(&operators, "operator-key", nil, "PARTY:NAME:FILE of an operator (twice: opener, then approver)")
	fl.DurationVar(&o.MaxNotice, "max-notice", 10*time.Minute, "refuse to run if a node's canary notice period is longer")
	fl.DurationVar(&o.Timeout, "timeout", 0, "bound on the whole unfreeze (default: the notice period + 2m)")
	return c
}

// parseOperatorArgs reads --operator-key PARTY:NAME:FILE twice: the
// opener, then the approver. Each key file is read only when its
// approval is signed, and cleared at once.
func parseOperatorArgs(args []string) ([]drill.Operator, error) {
	var out []drill.Operator
	seen := map[string]bool{}
	for _, a := range args {
		f := strings.SplitN(a, ":", 3)
		if len(f) != 3 || !custody.Party(f[0]).Valid() || f[1] == "" || f[2] == "" {
			return nil, userErr("--operator-key %q: want PARTY:NAME:FILE", a)
		}
		if seen[f[0]] {
			return nil, userErr("--operator-key: %s given twice; the drill needs two different parties", f[0])
		}
		seen[f[0]] = true
		file := f[2]
		out = append(out, drill.Operator{Party: f[0], Name: f[1], Sign: func(ap custody.Approval) (custody.Approval, error) {
			key, err := recovery.LoadOperatorKey(file)
			if err != nil {
				return ap, userError{Err: err}
			}
			defer clear(key)
			return custody.SignApproval(ap, key), nil
		}})
	}
	if len(out) != 2 {
		return nil, userErr("give --operator-key twice, for two parties: the first opens the unfreeze, the second approves it")
	}
	return out, nil
}
