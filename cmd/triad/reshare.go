package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/node/api"
	"github.com/triad-custody/triad/recovery"
)

func init() {
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

	var spec node.ReshareSpec
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

	approveCmd := approveSpecCmd("reshare", func(s node.ReshareSpec) string {
		return fmt.Sprintf("reshare %s: key %s, replace %s with peer %s, public key %s, until %s",
			s.ReshareID, s.KeyID, s.Replace, s.NewPeerID, s.PublicKey, s.Expires.Format(time.RFC3339))
	}, func(s node.ReshareSpec, party, operator string, key ed25519.PrivateKey) any {
		return recovery.Approve(s, party, operator, key)
	})

	var f clientFlags
	var runSpec string
	var approvals []string
	runCmd := &cobra.Command{
		Use:   "run --config FILE --spec FILE --approval FILE --approval FILE",
		Short: "Run an approved reshare from a surviving node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := loadOrder(runSpec, approvals)
			if err != nil {
				return err
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			res, err := runReshare(cmd.OutOrStdout(), "", cl, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reshare %s complete in %s: key %s, public key %s unchanged\n",
				res.ReshareID, res.Duration.Round(time.Millisecond), res.KeyID, res.PublicKey)
			return nil
		},
	}
	f.register(runCmd, "admin")
	runCmd.Flags().StringVar(&runSpec, "spec", "", "reshare spec file")
	runCmd.Flags().StringArrayVar(&approvals, "approval", nil, "signed approval file (two parties)")
	runCmd.MarkFlagRequired("spec")

	rc.AddCommand(specCmd, approveCmd, runCmd, newReshareResolveCmd())
	root.AddCommand(rc)
}

func loadOrder(specFile string, approvals []string) (node.ReshareOrder, error) {
	var o node.ReshareOrder
	if err := readJSONFile(specFile, &o.Spec); err != nil {
		return o, err
	}
	if len(approvals) < 2 {
		return o, userErr("a reshare needs approvals from two parties' operators (--approval twice)")
	}
	for _, a := range approvals {
		var ap node.ReshareApproval
		if err := readJSONFile(a, &ap); err != nil {
			return o, err
		}
		o.Approvals = append(o.Approvals, ap)
	}
	return o, nil
}

// runReshare asks a surviving node to run o and prints each step as the
// node reports it, indented by indent.
func runReshare(w io.Writer, indent string, cl *client, o node.ReshareOrder) (*node.ReshareResult, error) {
	fmt.Fprintf(w, "%sreshare %s: replacing %s on key %s (usually well under a minute)...\n", indent, o.Spec.ReshareID, o.Spec.Replace, o.Spec.KeyID)
	ctx, cancel := withTimeout(15 * time.Minute)
	defer cancel()
	var last api.ReshareLine
	err := cl.stream(ctx, "POST", "/v1/recovery/reshare?stream=1", o, func(b []byte) error {
		var l api.ReshareLine
		if err := json.Unmarshal(b, &l); err != nil {
			return fmt.Errorf("the node's progress: %w", err)
		}
		if l.Step != nil {
			fmt.Fprintln(w, indent+"  "+recovery.Progress(*l.Step))
			return nil
		}
		last = l
		return nil
	})
	switch {
	case err != nil:
	case last.Error != nil && last.Error.Status < 500:
		err = userErr("%s", last.Error.Message)
	case last.Error != nil:
		err = errors.New(last.Error.Message)
	case last.Result == nil:
		err = errors.New("the node ended its answer without a result: the reshare's outcome is unknown; check `triad status` on every node")
	}
	if err != nil {
		return nil, fmt.Errorf("reshare %s: %w", o.Spec.ReshareID, err)
	}
	return last.Result, nil
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return userErr("reading %s: %v", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return userErr("%s: %v", path, err)
	}
	return nil
}

func writeJSONFile(w io.Writer, path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "" {
		_, err := w.Write(b)
		return err
	}
	if _, err := os.Stat(path); err == nil {
		return userErr("%s exists; refusing to overwrite", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return hsm.WriteFileAtomic(path, b, 0o644)
}
