package main

import (
	"crypto/ed25519"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/recovery"
)

// approveSpecCmd is `approve` of an operator ceremony (keygen, reshare):
// it reads a spec of type S, shows the operator what they sign (describe),
// and writes the operator's signed approval (sign) of it.
func approveSpecCmd[S any](what string, describe func(S) string, sign func(s S, party, operator string, key ed25519.PrivateKey) any) *cobra.Command {
	var specIn, party, operator, keyFile, apprOut string
	c := &cobra.Command{
		Use:   "approve --spec FILE --party P --operator NAME --operator-key FILE --out FILE",
		Short: "Sign a " + what + " spec as one party's operator",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var s S
			if err := readJSONFile(specIn, &s); err != nil {
				return err
			}
			key, err := recovery.LoadOperatorKey(keyFile)
			if err != nil {
				return userError{Err: err}
			}
			defer clear(key)
			fmt.Fprintf(cmd.ErrOrStderr(), "approving %s\n", describe(s))
			return writeJSONFile(cmd.OutOrStdout(), apprOut, sign(s, party, operator, key))
		},
	}
	c.Flags().StringVar(&specIn, "spec", "", what+" spec file")
	c.Flags().StringVar(&party, "party", "", "the operator's party")
	c.Flags().StringVar(&operator, "operator", "", "the operator's name in the policy")
	c.Flags().StringVar(&keyFile, "operator-key", "", "file with the operator's ed25519 key (hex)")
	c.Flags().StringVarP(&apprOut, "out", "o", "", "file to write (default: stdout)")
	for _, f := range []string{"spec", "party", "operator", "operator-key"} {
		c.MarkFlagRequired(f)
	}
	return c
}
