package main

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/recovery"
)

func init() { addCommand(newReshareCmd) }

func newReshareCmd() *cobra.Command {
	rc := &cobra.Command{
		Use:   "reshare",
		Short: "Replace one party's node by resharing (same public key, new shards)",
		Long: `Replace a party's node — disk lost, compromised, or planned rotation — without moving
funds: the two surviving nodes reshare the key to all three nodes, the replacement
starting empty with a NEW libp2p identity. The group public key and every address stay
the same; the old shards are destroyed once every node confirms the new ones.

  1. Start the replacement: 'triad init' (new identity), then 'triad node run'.
  2. triad reshare spec     --key-id K --replace P --new-peer-id ID --public-key HEX --out spec.json
  3. Two parties' operators: triad reshare approve --spec spec.json --party X --operator NAME --operator-key FILE --out X.json
  4. On a surviving node:   triad reshare run --config FILE --spec spec.json --approval a.json --approval b.json`,
	}

	var spec reshare.Spec
	var ttl time.Duration
	var specOut string
	specCmd := &cobra.Command{
		Use:   "spec --key-id K --replace PARTY --public-key HEX [--new-peer-id ID] --out FILE",
		Short: "Write the reshare spec that operators approve",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if spec.ReshareID == "" {
				spec.ReshareID = "reshare-" + recovery.NewNonce()[:12]
			}
			spec.Expires = time.Now().Add(ttl).UTC().Truncate(time.Second)
			return writeJSONFile(cmd.OutOrStdout(), specOut, spec)
		},
	}
	specCmd.Flags().StringVar(&spec.ReshareID, "id", "", "reshare ID (default: random)")
	specCmd.Flags().StringVar(&spec.KeyID, "key-id", "", "key to reshare")
	specCmd.Flags().StringVar(&spec.Replace, "replace", "", "party whose node is replaced")
	specCmd.Flags().StringVar(&spec.NewPeerID, "new-peer-id", "", "the replacement node's libp2p peer ID (its peer.id file)")
	specCmd.Flags().StringVar(&spec.PublicKey, "public-key", "", "the key's group public key, compressed hex (must not change)")
	specCmd.Flags().DurationVar(&ttl, "ttl", 2*time.Hour, "how long the spec and its approvals are valid")
	specCmd.Flags().StringVarP(&specOut, "out", "o", "", "file to write (default: stdout)")
	for _, f := range []string{"key-id", "replace", "public-key"} {
		specCmd.MarkFlagRequired(f)
	}

	approveCmd := approveSpecCmd("reshare", func(s reshare.Spec) string {
		return fmt.Sprintf("reshare %s: key %s, replace %s with peer %s, public key %s, until %s",
			s.ReshareID, s.KeyID, s.Replace, s.NewPeerID, s.PublicKey, s.Expires.Format(time.RFC3339))
	}, func(s reshare.Spec, party, operator string, key ed25519.PrivateKey) any {
		return recovery.Approve(s, party, operator, key)
	})

	rc.AddCommand(specCmd, approveCmd, newReshareRunCmd(), newReshareResolveCmd())
	return rc
}
