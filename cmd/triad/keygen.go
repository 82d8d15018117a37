package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/node/api"
)

func init() {
	var f clientFlags
	var keyID string
	c := &cobra.Command{
		Use:   "keygen --config FILE --key-id ID",
		Short: "Run a distributed key generation with all three nodes",
		Long: `Ask a running node to run a 2-of-3 DKG with the other two. Every node seals its own
share; no whole private key ever exists. Prints the group public key.

Example:
  triad keygen --config configs/custodian.yaml --key-id vault-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(10 * time.Minute)
			defer cancel()
			fmt.Fprintf(cmd.ErrOrStderr(), "running DKG for %s with all three parties...\n", keyID)
			var res api.KeygenResponse
			if err := cl.do(ctx, "POST", "/v1/admin/keygen", api.KeygenRequest{KeyID: keyID}, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key %s\npublic key %s\n", res.KeyID, res.PublicKey)
			return nil
		},
	}
	f.register(c, "admin")
	c.Flags().StringVar(&keyID, "key-id", "", "ID of the new key")
	c.MarkFlagRequired("key-id")
	root.AddCommand(c)
}
