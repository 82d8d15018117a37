package main

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/recovery"
)

func init() { addCommand(newKeygenCmd) }

func newKeygenCmd() *cobra.Command {
	var f clientFlags
	var keyID, specFile string
	var approvals []string
	c := &cobra.Command{
		Use:   "keygen --config FILE --key-id ID [--spec FILE --approval FILE --approval FILE]",
		Short: "Run a distributed key generation with all three nodes",
		Long: `Ask a running node to run a 2-of-3 DKG with the other two. Every node seals its own
share; no whole private key ever exists. Prints the group public key.

Every node generates only keys of its own policy.keys, with its own parties and
threshold. A custody key also needs two parties' operator approvals, as a reshare does:

  triad keygen spec    --key-id vault-1 --out spec.json
  triad keygen approve --spec spec.json --party X --operator NAME --operator-key FILE --out X.json   (two parties)
  triad keygen --config FILE --key-id vault-1 --spec spec.json --approval a.json --approval b.json

Example (a canary key):
  triad keygen --config configs/custodian.yaml --key-id canary-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := api.KeygenRequest{KeyID: keyID}
			if specFile != "" || len(approvals) > 0 {
				o, err := loadKeygenOrder(specFile, approvals)
				if err != nil {
					return err
				}
				if o.Spec.KeyID != keyID {
					return userErr("the spec is for key %q, not %q", o.Spec.KeyID, keyID)
				}
				req.Order = &o
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(10 * time.Minute)
			defer cancel()
			fmt.Fprintf(cmd.ErrOrStderr(), "running DKG for %s with all three parties...\n", keyID)
			var res api.KeygenResponse
			if err := cl.Do(ctx, "POST", "/v1/admin/keygen", req, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key %s\npublic key %s\n", res.KeyID, res.PublicKey)
			return nil
		},
	}
	f.register(c, "admin")
	c.Flags().StringVar(&keyID, "key-id", "", "ID of the new key")
	c.Flags().StringVar(&specFile, "spec", "", "approved keygen spec file (custody keys)")
	c.Flags().StringArrayVar(&approvals, "approval", nil, "signed approval file (two parties; custody keys)")
	c.MarkFlagRequired("key-id")

	var spec node.KeygenSpec
	var ttl time.Duration
	var specOut string
	specCmd := &cobra.Command{
		Use:   "spec --key-id K --out FILE",
		Short: "Write the spec of a custody key's keygen that operators approve",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec.Threshold = len(spec.Parties) / 2
			spec.Expires = time.Now().Add(ttl).UTC().Truncate(time.Second)
			return writeJSONFile(cmd.OutOrStdout(), specOut, spec)
		},
	}
	specCmd.Flags().StringVar(&spec.KeyID, "key-id", "", "the custody key to generate")
	specCmd.Flags().StringSliceVar(&spec.Parties, "parties", node.DefaultParties, "the cluster's parties, as in every node's config")
	specCmd.Flags().DurationVar(&ttl, "ttl", 2*time.Hour, "how long the spec and its approvals are valid")
	specCmd.Flags().StringVarP(&specOut, "out", "o", "", "file to write (default: stdout)")
	specCmd.MarkFlagRequired("key-id")

	approveCmd := approveSpecCmd("keygen", func(s node.KeygenSpec) string {
		return fmt.Sprintf("keygen of %s: parties %v, threshold %d (%d-of-%d), until %s",
			s.KeyID, s.Parties, s.Threshold, s.Threshold+1, len(s.Parties), s.Expires.Format(time.RFC3339))
	}, func(s node.KeygenSpec, party, operator string, key ed25519.PrivateKey) any {
		return node.SignKeygenApproval(s, party, operator, recovery.NewNonce(), key)
	})
	c.AddCommand(specCmd, approveCmd)
	return c
}

func loadKeygenOrder(specFile string, approvals []string) (node.KeygenOrder, error) {
	var o node.KeygenOrder
	if specFile == "" || len(approvals) < 2 {
		return o, userErr("a custody key's keygen needs its spec and approvals from two parties' operators (--spec, --approval twice)")
	}
	if err := readJSONFile(specFile, &o.Spec); err != nil {
		return o, err
	}
	var err error
	o.Approvals, err = readApprovals(approvals)
	return o, err
}
