package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/node"
	"github.com/triad-custody/triad/recovery"
)

func newDrillVerifyCmd() *cobra.Command {
	var vcfg string
	var minSigners int
	verify := &cobra.Command{
		Use:   "verify REPORT.json [-c CONFIG]",
		Short: "Check a drill report's signatures",
		Long: `Check every node signature on a drill report. With --config, each signature must come
from the peer ID that node's config (and pins.json) pins for the party — what a
regulator does; without it the check proves only that the report was not altered
after the listed nodes signed it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return userErr("reading the report: %v", err)
			}
			rep, err := recovery.DecodeReport(b)
			if err != nil {
				return userError{Err: err}
			}
			trusted := map[string]string{}
			if vcfg != "" {
				if trusted, err = trustedPeers(vcfg); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if err := rep.Verify(trusted, minSigners); err != nil {
				fmt.Fprintf(out, "INVALID: %v\n", err)
				return userErr("drill report %s does not verify", args[0])
			}
			var who []string
			for _, a := range rep.Signatures {
				who = append(who, a.Party)
			}
			how := "against the pinned peer IDs"
			if len(trusted) == 0 {
				how = "for integrity only (no --config: signers not checked against pinned peers)"
			}
			fmt.Fprintf(out, "VALID: drill %s %s, verdict %s, signed by %s, checked %s\n",
				rep.Drill, rep.ID, strings.ToUpper(rep.Verdict), strings.Join(who, ", "), how)
			return nil
		},
	}
	verify.Flags().StringVarP(&vcfg, "config", "c", "", "a node config whose pinned peers are trusted")
	verify.Flags().IntVar(&minSigners, "min-signers", 2, "fewest distinct parties that must have signed")
	return verify
}

// trustedPeers maps every party to its peer ID as the node at cfgPath
// pins it: its own peer.id, the configured peers and any reshare re-pins.
func trustedPeers(cfgPath string) (map[string]string, error) {
	cfg, err := loadNodeConfig(cfgPath)
	if err != nil {
		return nil, userError{Err: err}
	}
	peers, err := cfg.PinnedPeers()
	if err != nil {
		return nil, userError{Err: err}
	}
	if peers, err = node.ApplyPins(cfg, peers); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range peers {
		out[p.Party] = p.ID.String()
	}
	if b, err := os.ReadFile(filepath.Join(cfg.Resolve(cfg.DataDir), "peer.id")); err == nil {
		out[cfg.Party] = strings.TrimSpace(string(b))
	}
	return out, nil
}
