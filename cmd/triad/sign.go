package main

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/node/api"
)

func init() {
	var f clientFlags
	var req api.SignRequest
	c := &cobra.Command{
		Use:   "sign --config FILE --key-id ID --digest HEX",
		Short: "Sign a raw 32-byte digest (canary keys only: drills and tests)",
		Long: `Ask a running node to co-sign a raw 32-byte digest with one other node. Every node's
policy refuses this path for custody keys; custody actions go through 'triad request'.

Example:
  triad sign --config configs/exchange.yaml --key-id canary-1 --digest $(printf drill | sha256sum | cut -c1-64)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := hexDigestArg(req.Digest); err != nil {
				return userErr("--digest: %v", err)
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(5 * time.Minute)
			defer cancel()
			var res api.SignResponse
			if err := cl.do(ctx, "POST", "/v1/admin/sign", req, &res); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), res)
		},
	}
	f.register(c, "admin")
	c.Flags().StringVar(&req.KeyID, "key-id", "", "key to sign with")
	c.Flags().StringVar(&req.Digest, "digest", "", "32-byte digest, hex")
	c.Flags().StringVar(&req.RequestID, "request-id", "", "request ID (default: from the digest)")
	c.Flags().StringVar(&req.ChildPath, "child-path", "", "BIP32 non-hardened child, e.g. m/0/7")
	c.MarkFlagRequired("key-id")
	c.MarkFlagRequired("digest")
	root.AddCommand(c)
}

func hexDigestArg(s string) ([32]byte, error) {
	var d [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return d, fmt.Errorf("want 64 hex characters (32 bytes), got %q", s)
	}
	copy(d[:], b)
	return d, nil
}
