package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/custody/holdings"
)

// maxProofBytes bounds a proof file (a 2^24-leaf tree's path is 24 hashes).
const maxProofBytes = 1 << 20

func init() { addCommand(newProofCmd) }

func newProofCmd() *cobra.Command {
	c := &cobra.Command{Use: "proof", Short: "Proofs of holdings: fetch an account's proof, verify one offline"}
	var groupKey, groupKeyFile, proofFile, account string
	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify --proof FILE --group-key HEX",
		Short: "Verify a proof of holdings offline against the attestation key's group public key",
		Long: `Verify an account's proof of holdings with no node running: the 2-of-3 signature of the attestation
key over the snapshot (root, time, leaf count, chain heads), and each of the account's leaves under the
signed root (custody/holdings/SPEC.md). The group public key must come from a source you trust (for
instance ` + "`triad address --key-id <attestation key>`" + ` on your own node), not from the proof.
Exit 0: the proof verifies; 1: it does not, or the input is malformed.`,
		Example: `  triad proof verify --proof acct-1.json --group-key 02ab...
  curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/holdings/acct-1/proof | triad proof verify --proof - --group-key-file attest.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keyHex := groupKey
			if groupKeyFile != "" {
				b, err := os.ReadFile(groupKeyFile)
				if err != nil {
					return userErr("--group-key-file: %v", err)
				}
				keyHex = string(b)
			}
			if keyHex == "" || proofFile == "" {
				return userErr("give --proof and --group-key (or --group-key-file)")
			}
			pub, err := holdings.ParseGroupKey(keyHex)
			if err != nil {
				return userErr("--group-key: %v", err)
			}
			b, err := readProofFile(cmd.InOrStdin(), proofFile)
			if err != nil {
				return err
			}
			p, err := holdings.DecodeProof(b, maxProofBytes)
			if err != nil {
				return userErr("%s: %v", proofFile, err)
			}
			if account != "" && p.Account != account {
				return userErr("the proof is account %q's, not %q's", p.Account, account)
			}
			if err := p.Verify(pub); err != nil {
				return userErr("proof of %q does not verify: %v", p.Account, err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), p)
			}
			printProof(cmd.OutOrStdout(), p)
			return nil
		},
	}
	verify.Flags().StringVar(&proofFile, "proof", "", "proof file (JSON, as GET /v1/holdings/{account}/proof serves it); - for stdin")
	verify.Flags().StringVar(&groupKey, "group-key", "", "the attestation key's group public key, compressed hex")
	verify.Flags().StringVar(&groupKeyFile, "group-key-file", "", "file holding --group-key")
	verify.Flags().StringVar(&account, "account", "", "also require the proof to be this account's")
	verify.Flags().BoolVar(&asJSON, "json", false, "print the verified proof as JSON")

	var f clientFlags
	var getAccount string
	get := &cobra.Command{
		Use:   "get --config FILE --account ID",
		Short: "Fetch an account's proof of holdings from a node (the custodian's) and print it as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if getAccount == "" {
				return userErr("give --account")
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(30 * time.Second)
			defer cancel()
			var p holdings.AccountProof
			if err := cl.Do(ctx, "GET", "/v1/holdings/"+url.PathEscape(getAccount)+"/proof", nil, &p); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), p)
		},
	}
	get.Flags().StringVar(&getAccount, "account", "", "the client account")
	f.register(get, "auditor")
	c.AddCommand(verify, get)
	return c
}

func readProofFile(stdin io.Reader, path string) ([]byte, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, userErr("--proof: %v", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxProofBytes+1))
	if err != nil {
		return nil, userErr("--proof: %v", err)
	}
	return b, nil
}

func printProof(w io.Writer, p holdings.AccountProof) {
	s := p.Attestation.Snapshot
	fmt.Fprintf(w, "proof verifies: account %s, snapshot %s (key %s)\n", p.Account, s.Time.UTC().Format(time.RFC3339), p.Attestation.KeyID)
	fmt.Fprintf(w, "root %s over %d leaves\n", s.Root, s.Leaves)
	for _, h := range s.Chains {
		fmt.Fprintf(w, "chain %s at height %d, block %s\n", h.Chain, h.Height, h.Block)
	}
	for _, e := range p.Entries {
		fmt.Fprintf(w, "%s %s\n", e.Leaf.Asset, e.Leaf.Amount)
	}
}
