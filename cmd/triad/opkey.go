package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/hsm"
)

func init() { addCommand(newOperatorKeyCmd) }

func newOperatorKeyCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "operator-key --out FILE",
		Short: "Make an ed25519 key file for an operator or the margin engine",
		Long: `Writes a new ed25519 seed (hex) to --out with mode 0600 and prints only the
public key, for the policy's operators or margin_engine_keys list. The file
is what approve, veto, request and margin-sim read with --operator-key/--key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return userErr("--out is required")
			}
			if _, err := os.Stat(out); err == nil {
				return userErr("%s exists; refusing to replace a key", out)
			}
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			seed := []byte(hex.EncodeToString(priv.Seed()) + "\n")
			clear(priv)
			defer clear(seed)
			if err := hsm.WriteFileAtomic(out, seed, 0o600); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(pub))
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "key file to create")
	return c
}
