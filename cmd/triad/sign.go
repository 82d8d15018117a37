package main

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/recovery"
)

func init() { addCommand(newSignCmd) }

func newSignCmd() *cobra.Command {
	var f clientFlags
	var req api.SignRequest
	c := &cobra.Command{
		Use:   "sign --config FILE --key-id ID [--nonce NONCE]",
		Short: "Sign a drill message with a canary key (drills and tests)",
		Long: `Ask a running node to co-sign, with one other node, the drill message of a nonce:
SHA-256 of a fixed drill tag and the nonce, which every signer recomputes, so it is never
a transaction's sighash. Only canary keys sign on this path; every node's policy refuses
custody keys, and any other digest (--digest is accepted only as the nonce's own drill
digest). Spending, custody or canary, goes through 'triad request' with approvals.
Prints the nonce, the digest signed, r and s.

Example:
  triad sign --config configs/exchange.yaml --key-id canary-1 --nonce drill-2026-05-01`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Nonce == "" && req.Digest == "" {
				req.Nonce = "drill-" + recovery.NewNonce()
			}
			if req.Nonce != "" {
				if err := custody.ValidDrillNonce(req.Nonce); err != nil {
					return userErr("--nonce: %v", err)
				}
			}
			if req.Digest != "" {
				if _, err := hexDigestArg(req.Digest); err != nil {
					return userErr("--digest: %v", err)
				}
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(5 * time.Minute)
			defer cancel()
			var res api.SignResponse
			if err := cl.Do(ctx, "POST", "/v1/admin/sign", req, &res); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), res)
		},
	}
	f.register(c, "admin")
	c.Flags().StringVar(&req.KeyID, "key-id", "", "canary key to sign with")
	c.Flags().StringVar(&req.Nonce, "nonce", "", "drill nonce, 1-128 characters of A-Z a-z 0-9 . _ : / + = - (default: a random one)")
	c.Flags().StringVar(&req.Digest, "digest", "", "the nonce's drill digest, hex (any other digest is refused)")
	c.Flags().StringVar(&req.ChildPath, "child-path", "", "BIP32 non-hardened child, e.g. m/0/7")
	c.MarkFlagRequired("key-id")
	return c
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
